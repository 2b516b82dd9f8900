"""Move and copy, inside the caller's transaction (``NamespaceRepository.move`` / ``copy``).

A move rewrites the keys of a file or of a whole subtree (directories, then files) in
one UPDATE per table, so readers see it wholly before or wholly after; a copy inserts
new file, version and chunk-list rows naming the same chunks (no byte moves). Targets
are checked and history is kept by ``move_targets`` and ``version_history``.

The events go in the same transaction (metadata/events.py): first dir.created for the
directories the change makes (the target's parents, a moved or copied subtree's
directories), then file.moved / file.copied per live file (with ``from_path``; a move
across buckets also file.deleted in the source bucket), then, for a move, dir.deleted
for the directories it emptied (children first). Files holding only history (a delete
marker) move silently.
"""

from __future__ import annotations

from typing import Any

import psycopg

from master.metadata.events import (
    MAKE_DIRS,
    EventDraft,
    dir_events_sql,
    record,
    record_relocated,
    relocated_events_sql,
)
from master.metadata.move_targets import merge_into, prepare_target, under
from master.metadata.version_commit import ancestors
from master.metadata.version_history import version_onto

__all__ = ["copy_in", "ensure_parents", "move_in"]


async def move_in(
    conn: psycopg.AsyncConnection[Any], source: tuple[int, str], target: tuple[int, str],
    overwrite: bool, condition: tuple[str | None, bool], actor_id: int | None,
) -> int:
    """Move the file or directory at ``source`` to ``target`` inside the caller's
    transaction; return how many files moved (``NamespaceRepository.move``)."""
    (src_bucket, src), (dst_bucket, dst) = source, target
    is_dir, onto = await prepare_target(conn, src_bucket, src, dst_bucket, dst, overwrite,
                                        lock_source=True, condition=condition)
    await ensure_parents(conn, dst_bucket, dst, actor_id)
    if onto is not None:
        version = await version_onto(conn, source, (onto, dst_bucket, dst),
                                     delete_source=True)
        await record_relocated(conn, "file.moved",
                               [(dst_bucket, dst, src_bucket, src, version)], actor_id)
        return 1
    stay, landed = await merge_into(conn, source, target, is_dir, delete_source=True)
    await record_relocated(conn, "file.moved", [
        (dst_bucket, t, src_bucket, s, v) for s, t, v in landed], actor_id)
    emptied: list[str] = []
    if is_dir:
        where, params = under("t", src)
        cur = await conn.execute(
            "WITH moved AS (UPDATE directories t SET bucket_id = %s,"
            " path = %s || substr(t.path, %s) WHERE t.bucket_id = %s AND"
            f" {where} RETURNING t.bucket_id, t.path, %s::bigint AS actor_id),"
            f" ev AS ({dir_events_sql('moved', 'dir.created')})"
            " SELECT path FROM moved",
            (dst_bucket, dst, len(src) + 1, src_bucket, *params, actor_id),
        )
        emptied = [src + r["path"][len(dst):] for r in await cur.fetchall()]
    where, params = under("t", src) if is_dir else ("t.path = %s", (src,))
    if stay:
        where, params = f"{where} AND NOT t.id = ANY(%s)", (*params, stay)
    cur = await conn.execute(
        "WITH moved AS (UPDATE files t SET bucket_id = %s,"
        " path = %s || substr(t.path, %s),"
        " owner_id = (SELECT owner_id FROM buckets WHERE id = %s), updated_at = now()"
        f" WHERE t.bucket_id = %s AND {where}"
        " RETURNING t.bucket_id, t.path, t.current_version_id),"
        " c AS (SELECT row_number() OVER (ORDER BY m.path) AS n, m.bucket_id, m.path,"
        "   %s::bigint AS from_bucket_id, %s || substr(m.path, %s) AS from_path,"
        "   v.id AS version_id, v.size, v.sha256 AS etag, %s::bigint AS actor_id"
        "   FROM moved m JOIN file_versions v ON v.id = m.current_version_id"
        "   AND NOT v.deleted),"
        f" ev AS ({relocated_events_sql('c', 'file.moved')})"
        " SELECT count(*) AS n FROM moved",
        (dst_bucket, dst, len(src) + 1, dst_bucket, src_bucket, *params,
         src_bucket, src, len(dst) + 1, actor_id),
    )
    row = await cur.fetchone()
    await record(conn, [EventDraft("dir.deleted", src_bucket, path, actor_id)
                        for path in sorted(emptied, reverse=True)])
    return len(landed) + (int(row["n"]) if row else 0)


async def copy_in(
    conn: psycopg.AsyncConnection[Any], source: tuple[int, str], target: tuple[int, str],
    overwrite: bool, condition: tuple[str | None, bool], actor_id: int | None,
) -> int:
    """Copy the file or directory at ``source`` to ``target`` inside the caller's
    transaction, sharing chunks; return how many files (``NamespaceRepository.copy``)."""
    (src_bucket, src), (dst_bucket, dst) = source, target
    is_dir, onto = await prepare_target(conn, src_bucket, src, dst_bucket, dst, overwrite,
                                        lock_source=False, condition=condition)
    await ensure_parents(conn, dst_bucket, dst, actor_id)
    if onto is not None:
        version = await version_onto(conn, source, (onto, dst_bucket, dst),
                                     delete_source=False)
        await record_relocated(conn, "file.copied",
                               [(dst_bucket, dst, src_bucket, src, version)], actor_id)
        return 1
    stay, landed = await merge_into(conn, source, target, is_dir, delete_source=False)
    await record_relocated(conn, "file.copied", [
        (dst_bucket, t, src_bucket, s, v) for s, t, v in landed], actor_id)
    if is_dir:
        where, params = under("d", src)
        await conn.execute(
            "WITH made AS (INSERT INTO directories (bucket_id, path)"
            " SELECT %s, %s || substr(d.path, %s) FROM directories d"
            f" WHERE d.bucket_id = %s AND {where} ON CONFLICT DO NOTHING"
            " RETURNING bucket_id, path, %s::bigint AS actor_id)"
            f" {dir_events_sql('made', 'dir.created')}",
            (dst_bucket, dst, len(src) + 1, src_bucket, *params, actor_id),
        )
    where, params = under("f", src) if is_dir else ("f.path = %s", (src,))
    if stay:
        where, params = f"{where} AND NOT f.id = ANY(%s)", (*params, stay)
    cur = await conn.execute(
        "WITH src AS MATERIALIZED (SELECT f.current_version_id AS old_version,"
        "   gen_random_uuid() AS new_file, gen_random_uuid() AS new_version,"
        "   %s || substr(f.path, %s) AS new_path, f.path AS old_path,"
        "   f.consistency_hint, v.size, v.sha256"
        "   FROM files f JOIN file_versions v ON v.id = f.current_version_id"
        f"  AND NOT v.deleted WHERE f.bucket_id = %s AND {where}),"
        " nf AS (INSERT INTO files (id, owner_id, bucket_id, path, consistency_hint,"
        "   current_version_id) SELECT new_file, (SELECT owner_id FROM buckets"
        "   WHERE id = %s), %s, new_path, consistency_hint, new_version FROM src),"
        " nv AS (INSERT INTO file_versions (id, file_id, size, sha256, chunk_size,"
        "   chunk_count, mode) SELECT s.new_version, s.new_file, v.size, v.sha256,"
        "   v.chunk_size, v.chunk_count, v.mode FROM src s"
        "   JOIN file_versions v ON v.id = s.old_version),"
        " nc AS (INSERT INTO version_chunks (version_id, idx, chunk_id)"
        "   SELECT s.new_version, vc.idx, vc.chunk_id FROM src s"
        "   JOIN version_chunks vc ON vc.version_id = s.old_version),"
        " c AS (SELECT row_number() OVER (ORDER BY new_path) AS n,"
        "   %s::bigint AS bucket_id, new_path AS path, %s::bigint AS from_bucket_id,"
        "   old_path AS from_path, new_version AS version_id, size, sha256 AS etag,"
        "   %s::bigint AS actor_id FROM src),"
        f" ev AS ({relocated_events_sql('c', 'file.copied')})"
        " SELECT count(*) AS n FROM src",
        (dst, len(src) + 1, src_bucket, *params, dst_bucket, dst_bucket,
         dst_bucket, src_bucket, actor_id),
    )
    row = await cur.fetchone()
    return len(landed) + (int(row["n"]) if row else 0)


async def ensure_parents(
    conn: psycopg.AsyncConnection[Any], bucket_id: int, path: str, actor_id: int | None
) -> None:
    """Create the missing parents of ``path`` (with their dir.created events)."""
    parents = ancestors(path)
    if parents:
        await conn.execute(MAKE_DIRS, ([bucket_id] * len(parents), parents,
                                       [actor_id] * len(parents)))
