"""Make file versions current: the one commit, for a lone upload and for a group.

A version commits in one transaction after its write quorum was met: chunk rows,
replica rows, the version and its chunk list, the file's pointer, and repair rows for
every chunk short of N copies. Readers therefore see the old or the new version, never
a mix. Replaced versions are deleted in the same transaction; their chunks' GC clock
(``last_referenced_at``) restarts, so in-flight readers keep their bytes for the grace
period. A version that completes an upload session also marks the session completed,
and the commit fails (``Conflict``) if the session changed since its parts were read.

The commit is one statement: migration 0019's ``echofs_commit_versions``, called in
autocommit mode with the whole batch as one jsonb document, runs the commit's
statements in order inside PostgreSQL and is its own transaction. Every check that
decides (the session still open, no directory or file in the way, the precondition,
the reused chunks still there, the bucket still there) runs in it and refuses with a
SQLSTATE of ours, rolling it all back (``metadata/refusals.py`` names them). So a commit
is one round trip, with no BEGIN or COMMIT of its own. Eleven to thirteen statements
in a transaction had cost the master ~75 us of psycopg each (most of it dumping their
arrays in Python), three round trips, and PostgreSQL a parse, bind and execute each.

Files live at (bucket, path). The same function creates the directories a path
implies, refuses (Conflict) a file where a directory stands or under a file, and, for a
conditional upload (``If-Match`` / ``If-None-Match: *``), reads the current version after
the file row is locked, so the precondition and the commit are one atomic step. In a
versioned bucket replaced versions stay, within the bucket's retention
(``keep_versions``, ``keep_days``); what falls out is dropped like a replaced version.

The same transaction writes the change's events (metadata/events.py): a file.created or
file.updated per version, a dir.created per directory the paths implied that was new.

The function's statements take arrays (``unnest``), so one call commits one version or
a batch of many (group commit): a small upload's commit is a transaction and a WAL
flush, and at a few hundred small uploads a second PostgreSQL spent more CPU on them
than a worker spent storing the bytes. They are planned as probes of the batch's keys
(the function carries ``keyed_plans.plan_by_key``'s settings), whatever the tables'
size when the plans were made.
The caller (``FilesRepository``) only batches versions with distinct paths, no upload
session and no reused chunk rows; if a batch fails, it commits each version on its own
so one failure stays one failure.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from psycopg.types.json import Jsonb

from master.domain.records import NewVersion
from master.metadata.chunk_rows import LATE_WRITE_GRACE_S, chunk_arrays, in_flight
from master.metadata.pool import Database

__all__ = ["ancestors", "batchable", "commit_versions", "drop_replaced_sql"]


def batchable(new: NewVersion) -> bool:
    """A version the group commit can take: no session, no chunk row it relies on, no
    precondition (a failed one would roll the whole group back)."""
    return (new.session_id is None and not new.conditional
            and not any(p.row_existed for p in new.chunks))


_COMMIT = "SELECT * FROM echofs_commit_versions(%s, %s, %s)"
_DROP_REPLACED = "SELECT echofs_drop_replaced(%s::bigint[], %s::text[], %s::uuid[])"


def ancestors(path: str) -> list[str]:
    """The directories above ``path``: 'a/b/c' -> ['a', 'a/b'] (implied by the file)."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def drop_replaced_sql() -> str:
    """The statement dropping what new current versions replace (migration 0019's
    ``echofs_drop_replaced``); parameters: bucket ids, paths and the versions to keep,
    as lists."""
    return _DROP_REPLACED


async def commit_versions(
    db: Database, versions: Sequence[NewVersion], replication_factor: int
) -> list[uuid.UUID]:
    """Make each of ``versions`` (distinct (bucket, path)) current; return their file ids.

    One statement in autocommit mode (migration 0019's ``echofs_commit_versions``), so
    one round trip and its own transaction. Its refusals, each leaving everything as it
    was, reach the caller translated (``metadata/refusals.py``): Conflict when a version's
    upload session changed meanwhile or a directory stands at its path or a file at one
    of its parents, PreconditionFailed when a conditional version's precondition does not
    hold, Unavailable when a chunk row it relied on was taken by GC, NotFound when its
    bucket was deleted while uploading.
    """
    keys = [(v.bucket_id, v.path) for v in versions]
    assert len(set(keys)) == len(keys), "one path twice in a group commit"
    batch = _batch_document(versions)
    async with db.connection() as conn:
        cur = await conn.execute(_COMMIT, (Jsonb(batch), replication_factor,
                                           LATE_WRITE_GRACE_S))
        rows = await cur.fetchall()
    found = {(r["bucket_id"], r["path"]): r["file_id"] for r in rows}
    return [found[key] for key in keys]


def _batch_document(versions: Sequence[NewVersion]) -> dict[str, list[Any]]:
    """``versions`` as migration 0019's ``echofs_version_batch``: one list per field,
    versions in lock order (bucket, path), the distinct chunks sorted by id."""
    ordered = sorted(versions, key=lambda v: (v.bucket_id, v.path))
    version_ids = [str(v.version_id or uuid.uuid4()) for v in ordered]
    placements = [p for v in ordered for p in v.chunks]
    listed = [(version_ids[i], idx, p.chunk_id)
              for i, v in enumerate(ordered) for idx, p in enumerate(v.chunks)]
    parent_actor: dict[tuple[int, str], int | None] = {}
    for v in ordered:
        for d in ancestors(v.path):
            parent_actor.setdefault((v.bucket_id, d), v.actor_id)
    parents = sorted(parent_actor)
    # A session's updated_at when its parts were read (None matches no session).
    sessions = [(str(v.session_id),
                 v.session_updated_at.isoformat() if v.session_updated_at else None)
                for v in ordered if v.session_id is not None]
    described = [(version_ids[i], v.attributes) for i, v in enumerate(ordered)
                 if v.attributes is not None]
    return {
        "version_ids": version_ids,
        "file_ids": [str(v.file_id or uuid.uuid4()) for v in ordered],
        "bucket_ids": [v.bucket_id for v in ordered],
        "paths": [v.path for v in ordered],
        "hints": [v.hint for v in ordered],
        "sizes": [v.size for v in ordered],
        "etags": [v.sha256 for v in ordered],
        "chunk_sizes": [v.chunk_size for v in ordered],
        "chunk_counts": [len(v.chunks) for v in ordered],
        "modes": [v.mode for v in ordered],
        "actor_ids": [v.actor_id for v in ordered],
        "if_matches": [v.if_match for v in ordered],
        "if_none_matches": [v.if_none_match for v in ordered],
        **chunk_arrays(placements),
        "version_chunk_version_ids": [r[0] for r in listed],
        "version_chunk_idxs": [r[1] for r in listed],
        "version_chunk_chunk_ids": [r[2] for r in listed],
        "parent_bucket_ids": [b for b, _ in parents],
        "parent_paths": [d for _, d in parents],
        "parent_actor_ids": [parent_actor[p] for p in parents],
        "in_flight": in_flight(placements),
        "session_ids": [i for i, _ in sessions],
        "session_updated_ats": [at for _, at in sessions],
        "attribute_version_ids": [i for i, _ in described],
        "attribute_etags": [a.etag for _, a in described],
        "attribute_content_types": [a.content_type for _, a in described],
        "attribute_headers": [a.headers for _, a in described],
        "attribute_metadata": [a.metadata for _, a in described],
    }
