"""Versions to commit straight into the metadata store, for benchmarks and tests that
measure or probe ``version_commit`` without a cluster: no bytes exist behind them."""

from __future__ import annotations

import hashlib
import uuid

import psycopg

from common.chunks import Codec
from master.domain.records import ChunkPlacement, NewVersion

__all__ = ["one_chunk_version", "seed_owner"]


def seed_owner(url: str, username: str) -> tuple[int, int, str]:
    """A new user ``username`` with its home bucket, and the workers w1, w2 and w3 that
    ``one_chunk_version``'s chunks name, in the (migrated) database at ``url``: the
    user's id, the bucket's id and its name."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("INSERT INTO users (username, password_hash)"
                           " VALUES (%s, 'x') RETURNING id", (username,)).fetchone()
        assert row is not None
        owner = int(row[0])
        conn.execute("SELECT echofs_create_home_bucket(%s, %s)", (owner, username))
        found = conn.execute("SELECT id, name FROM buckets WHERE home_of = %s",
                             (owner,)).fetchone()
        assert found is not None
        conn.execute("INSERT INTO workers (worker_id, address) VALUES"
                     " ('w1', 'a:1'), ('w2', 'a:2'), ('w3', 'a:3')")
    return owner, int(found[0]), str(found[1])


def one_chunk_version(owner_id: int, bucket_id: int, path: str) -> NewVersion:
    """A 4 KiB file at ``path`` in one raw chunk of a fresh random id, acknowledged by
    workers w1, w2 and w3 (their rows must exist), mode C."""
    chunk_id = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    placement = ChunkPlacement(chunk_id, 4096, 4096, Codec.RAW, chunk_id,
                               acked_workers=["w1", "w2", "w3"], live_copies=3)
    return NewVersion(owner_id, path, 4096, chunk_id, 4 * 1024 * 1024, "C", "Auto",
                      [placement], bucket_id=bucket_id, actor_id=owner_id)
