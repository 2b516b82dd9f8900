"""What a version commit refuses, and that a refusal changes nothing (migration 0019).

The checks run inside PostgreSQL, in ``echofs_commit_versions``, and come back as our own
SQLSTATEs that ``metadata/refusals.py`` turns into the API's errors: a directory where a
file would go or a file where a directory would go (Conflict), a chunk the upload reused
that GC took meanwhile (Unavailable), a precondition that does not hold
(PreconditionFailed), a bucket deleted while uploading (NotFound). The commit is one
statement in autocommit mode, so each refused commit must leave files, versions,
directories, chunk rows and events exactly as they were, the rest of its group included.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from common.errors import Conflict, NotFound, PreconditionFailed, Unavailable
from master.metadata.pool import Database, open_database
from master.metadata.version_commit import commit_versions
from tools.sample_versions import one_chunk_version, seed_owner

_STATE = (
    "SELECT (SELECT count(*) FROM files) AS files,"
    " (SELECT count(*) FROM file_versions) AS versions,"
    " (SELECT count(*) FROM directories) AS directories,"
    " (SELECT count(*) FROM chunks) AS chunks,"
    " (SELECT count(*) FROM event_outbox) AS events,"
    " (SELECT string_agg(path || '=' || coalesce(current_version_id::text, '-'), ','"
    "   ORDER BY path) FROM files) AS pointers"
)


def _state(url: str) -> dict[str, Any]:
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        row = conn.execute(_STATE).fetchone()
    assert row is not None
    return dict(row)


@pytest.fixture
async def seeded(pg_url: str) -> AsyncIterator[tuple[Database, str, int, int]]:
    """(database, url, owner id, bucket id): a user's home bucket, workers w1-w3."""
    db = await open_database(pg_url, min_size=1, max_size=1)  # applies the migrations
    owner, bucket_id, _ = seed_owner(pg_url, "refused")
    try:
        yield db, pg_url, owner, bucket_id
    finally:
        await db.close()


async def test_a_file_where_a_directory_stands_or_under_a_file_is_refused_unchanged(
    seeded: tuple[Database, str, int, int],
) -> None:
    db, url, owner, bucket = seeded
    await commit_versions(db, [one_chunk_version(owner, bucket, "a/b.txt")], 3)
    before = _state(url)
    assert (before["files"], before["directories"]) == (1, 1)

    with pytest.raises(Conflict) as at_directory:
        await commit_versions(db, [one_chunk_version(owner, bucket, "a")], 3)
    assert str(at_directory.value) == "'a' is a directory or a file, and cannot be both"
    with pytest.raises(Conflict) as under_file:
        await commit_versions(db, [one_chunk_version(owner, bucket, "a/b.txt/c")], 3)
    assert str(under_file.value) == "'a/b.txt' is a directory or a file, and cannot be both"
    # In a group, one clash refuses the whole group (the caller then commits each alone).
    with pytest.raises(Conflict):
        await commit_versions(db, [one_chunk_version(owner, bucket, "fine/x"),
                                   one_chunk_version(owner, bucket, "a")], 3)
    assert _state(url) == before


async def test_a_reused_chunk_taken_by_gc_refuses_the_commit_unchanged(
    seeded: tuple[Database, str, int, int],
) -> None:
    db, url, owner, bucket = seeded
    first = one_chunk_version(owner, bucket, "dedup/one")
    await commit_versions(db, [first], 3)
    chunk_id = first.chunks[0].chunk_id
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE chunks SET gc_marked_at = now() WHERE chunk_id = %s", (chunk_id,))
    before = _state(url)

    again = dataclasses.replace(
        first, path="dedup/two",
        chunks=[dataclasses.replace(first.chunks[0], row_existed=True)])
    with pytest.raises(Unavailable) as refused:
        await commit_versions(db, [again], 3)
    assert str(refused.value) == ("1 chunk(s) this upload reused were garbage-collected"
                                  " while it ran; nothing was committed, retry the upload")
    assert refused.value.details == {"chunk_ids": [chunk_id]}
    assert _state(url) == before

    with psycopg.connect(url, autocommit=True) as conn:  # GC let it go again
        conn.execute("UPDATE chunks SET gc_marked_at = NULL WHERE chunk_id = %s", (chunk_id,))
    await commit_versions(db, [again], 3)
    assert _state(url)["versions"] == before["versions"] + 1


async def test_preconditions_are_checked_against_the_version_before_the_commit(
    seeded: tuple[Database, str, int, int],
) -> None:
    db, url, owner, bucket = seeded
    first = one_chunk_version(owner, bucket, "cas")
    await commit_versions(db, [first], 3)
    before = _state(url)

    with pytest.raises(PreconditionFailed):
        await commit_versions(db, [dataclasses.replace(
            one_chunk_version(owner, bucket, "cas"), if_none_match=True)], 3)
    with pytest.raises(PreconditionFailed) as wrong_etag:
        await commit_versions(db, [dataclasses.replace(
            one_chunk_version(owner, bucket, "cas"), if_match="0" * 64)], 3)
    assert wrong_etag.value.details == {"etag": first.sha256}
    assert _state(url) == before

    second = dataclasses.replace(one_chunk_version(owner, bucket, "cas"), if_match=first.sha256)
    await commit_versions(db, [second], 3)
    with pytest.raises(PreconditionFailed):  # the etag moved on with the commit
        await commit_versions(db, [dataclasses.replace(
            one_chunk_version(owner, bucket, "cas"), if_match=first.sha256)], 3)
    new_file = dataclasses.replace(one_chunk_version(owner, bucket, "fresh"),
                                   if_none_match=True)
    await commit_versions(db, [new_file], 3)
    after = _state(url)
    assert (after["files"], after["versions"]) == (before["files"] + 1, before["versions"] + 1)


async def test_a_version_whose_bucket_is_gone_refuses_its_whole_group_unchanged(
    seeded: tuple[Database, str, int, int],
) -> None:
    db, url, owner, bucket = seeded
    before = _state(url)
    with pytest.raises(NotFound) as refused:
        await commit_versions(db, [one_chunk_version(owner, bucket, "kept/a"),
                                   one_chunk_version(owner, bucket + 1000, "gone/b")], 3)
    assert str(refused.value) == "the bucket was deleted while uploading"
    assert _state(url) == before
