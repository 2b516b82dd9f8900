"""Chunks an upload wrote but could not commit (refused for any reason): left to GC.

A lone upload writes its chunks' blobs before its commit, which also writes their
chunk rows. When the commit is refused, the transaction's rows are gone and the blobs
would be known to no one: GC only collects chunks it has rows for (metadata/gc.py).
``release_uncommitted`` records them as the commit would have, without any version:
unreferenced rows with a fresh ``last_referenced_at``, which GC deletes (blobs first)
once the grace period has passed, exactly like the chunks of a deleted file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from master.domain.records import ChunkPlacement
from master.metadata.chunk_rows import persist_chunks
from master.metadata.pool import Database

__all__ = ["release_uncommitted"]


async def release_uncommitted(db: Database, placements: Sequence[ChunkPlacement]) -> None:
    """Chunk and replica rows for ``placements``, referenced by nothing."""
    if not placements:
        return
    # No version will reference them: whether GC took a reused row meanwhile no longer
    # matters (that check exists to keep a commit from referencing lost blobs).
    fresh = [dataclasses.replace(p, row_existed=False) for p in placements]
    async with db.transaction() as conn, conn.cursor() as cur:
        await persist_chunks(cur, fresh)
