"""The worker's use cases over a backend: verify, store, serve, quarantine.

Every blob is checked against the SHA-256 the writer declared: on write (a mismatch
stores nothing), on reads (before a byte is served) and when scrubbed. A blob
that fails is moved aside, counted, and remembered so the heartbeat can report it
for repair; the caller gets ``ChunkCorrupt`` so the master reads another replica.
A reader that hashes every byte itself (the master decodes and checks each chunk)
may ask for an unverified read: hashing every blob twice cost ~0.7 CPU s per GB read
(SHA-256 at ~1.4 GB/s on this class of machine). It still never gets a quarantined
blob or one whose header is damaged, and the blob it finds corrupt is reported by
the master and repaired from another replica.

That checksum proves the bytes arrived as sent, not that they are the chunk they are
sent as: the writer chooses both. So a write, and a scrub, also prove the content id
(``common.chunks.check_content_id``): the blob must decode to ``raw_size`` bytes that
hash to its chunk id, or nothing is stored (``ChunkIdMismatch``), and a stored copy
that fails is quarantined like any corrupt blob. Otherwise anyone allowed to write
could plant bytes under the id of content someone uploads later, and dedup would
hand them out. For a raw blob this costs nothing (its checksum is its content hash);
a zstd blob is decompressed once, in bounded slices, and its content hashed: ~1.3 CPU
s per GB of content for 4 MiB zstd-1 chunks, against ~0.2 for their checksum
(``bench/content_id_cost.py``). Reads do not decode, to stay cheap: a blob served was
proven when written and is proven again by every scrub pass, and the master decodes
and checks every chunk it reads.

Disk and S3 work is bounded by one semaphore; hashing of whole blobs runs in threads.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import time
from collections.abc import Sequence

from common.chunks import validate_chunk_id
from common.cpu import cpu_bound
from common.errors import (
    ChunkCorrupt,
    ChunkNotFound,
    EchoError,
    InvalidInput,
    PreconditionFailed,
    Unavailable,
)
from worker.backends.base import BlobMeta, ChunkBackend, ChunkEntry, StoredBlob, within
from worker.backends.memory import slice_range
from worker.blob_checks import (
    MAX_RAW_SIZE,
    MAX_STORED_SIZE,
    check_blob,
    check_blobs,
    check_cost,
    check_header,
    stored_fault,
    stored_faults,
)
from worker.chunk_locks import ChunkLocks
from worker.metrics import WorkerMetrics
from worker.recent_puts import RecentPuts
from worker.store_results import PutResult, StoreStatus, as_echo_error

__all__ = [
    "MAX_HAS_BATCH",
    "MAX_LIST_BATCH",
    "MAX_RAW_SIZE",
    "MAX_STORED_SIZE",
    "ChunkStore",
    "PutResult",
    "StoreStatus",
    "check_header",
]

log = logging.getLogger(__name__)

MAX_HAS_BATCH = 10_000
MAX_LIST_BATCH = 10_000


class ChunkStore:
    def __init__(
        self, backend: ChunkBackend, *, max_concurrency: int = 16,
        capacity_bytes: int = 0, metrics: WorkerMetrics | None = None,
    ) -> None:
        self.backend = backend
        self.metrics = metrics or WorkerMetrics()
        self._io_slots = asyncio.Semaphore(max_concurrency)
        self._capacity_override = capacity_bytes
        self._chunk_lock = ChunkLocks().hold  # writes, deletes, quarantine of one id
        self._corrupt_pending: dict[str, None] = {}  # insertion-ordered set
        self._recent_puts = RecentPuts()  # GC's guard: refuse what an upload relied on
        self.corrupt_blobs_found = 0
        self.is_open = False
        self.metrics.bind_usage(
            lambda: self.backend.usage().used_bytes,
            lambda: self.backend.usage().chunk_count,
            self.capacity_bytes,
        )

    async def open(self) -> None:
        await self.backend.open()
        self.is_open = True

    async def close(self) -> None:
        self.is_open = False
        await self.backend.close()

    def _require_open(self) -> None:
        if not self.is_open:
            raise Unavailable("the chunk store is not open yet")

    # -- writes --------------------------------------------------------------------

    async def put(self, meta: BlobMeta, payload: bytes) -> PutResult:
        """Verify the blob against its header and its id, and store it durably.

        Raises InvalidInput (bad header, size mismatch), ChecksumMismatch,
        ChunkIdMismatch (the content does not hash to the chunk id), StorageFull,
        Unavailable. A valid existing copy is kept and reported as already present; a
        corrupt existing copy (checksum or content id) is quarantined and replaced.
        """
        self._require_open()
        check_header(meta)
        await cpu_bound(check_cost(meta, payload), check_blob, meta, payload)
        async with self._chunk_lock(meta.chunk_id):
            self._recent_puts.note(meta.chunk_id)
            try:
                await self._read_verified(
                    meta.chunk_id, check_content=True, proven_blob_sha256=meta.blob_sha256
                )
                return PutResult(meta.chunk_id, meta.stored_size, already_present=True)
            except (ChunkNotFound, ChunkCorrupt):
                pass  # absent, or just quarantined: write the good copy
            async with self._io_slots:
                await self.backend.put(meta, payload)
        return PutResult(meta.chunk_id, meta.stored_size, already_present=False)

    async def put_many(
        self, items: Sequence[tuple[BlobMeta, bytes]]
    ) -> builtins.list[PutResult | EchoError]:
        """``put`` for a batch of small blobs, made durable together (one group sync on
        the local disk). Each item gets its own result or error, in order; one bad blob
        (checksum or content id) does not fail the others. The same id twice in a batch
        is written once.
        """
        self._require_open()
        outcomes: list[PutResult | EchoError | None] = [None] * len(items)
        valid: dict[str, int] = {}  # chunk id -> index of its first valid item
        errors = await cpu_bound(
            sum(check_cost(meta, payload) for meta, payload in items), check_blobs, items
        )
        for index, ((meta, _), error) in enumerate(zip(items, errors, strict=True)):
            if error is not None:
                outcomes[index] = error
                continue
            valid.setdefault(meta.chunk_id, index)
        async with contextlib.AsyncExitStack() as locks:
            for chunk_id in sorted(valid):  # one order for every batch: no deadlock
                await locks.enter_async_context(self._chunk_lock(chunk_id))
                self._recent_puts.note(chunk_id)
            # Absent ids are written at once (one backend step: the local volumes look and
            # append in one thread hop); a stored copy is proven before it counts.
            looked: list[bool | BaseException | None] = []
            if valid:
                async with self._io_slots:
                    looked = await self.backend.put_absent([items[i] for i in valid.values()])
            to_write: list[int] = []
            for (chunk_id, index), written in zip(valid.items(), looked, strict=True):
                if written is not None:
                    self._settle(outcomes, items, index, written)
                    continue
                try:
                    await self._read_verified(
                        chunk_id, check_content=True,
                        proven_blob_sha256=items[index][0].blob_sha256,
                    )
                    outcomes[index] = PutResult(chunk_id, items[index][0].stored_size, True)
                except (ChunkNotFound, ChunkCorrupt):
                    to_write.append(index)  # vanished, or just quarantined: write the good copy
                except EchoError as error:
                    outcomes[index] = error
            if to_write:
                async with self._io_slots:
                    again = await self.backend.put_many([items[i] for i in to_write])
                for index, written in zip(to_write, again, strict=True):
                    self._settle(outcomes, items, index, written)
        for index, (meta, _) in enumerate(items):  # repeats of an id share its result
            if outcomes[index] is None:
                first = outcomes[valid[meta.chunk_id]]
                outcomes[index] = (
                    PutResult(meta.chunk_id, meta.stored_size, already_present=True)
                    if isinstance(first, PutResult) else first
                )
        return outcomes  # type: ignore[return-value]

    @staticmethod
    def _settle(
        outcomes: builtins.list[PutResult | EchoError | None],
        items: Sequence[tuple[BlobMeta, bytes]], index: int, written: bool | BaseException,
    ) -> None:
        """The outcome of an item the backend wrote (True/False) or failed to write."""
        meta = items[index][0]
        outcomes[index] = (
            PutResult(meta.chunk_id, meta.stored_size, already_present=False)
            if not isinstance(written, BaseException) else as_echo_error(written)
        )

    async def delete(self, chunk_id: str, unless_written_within_s: float = 0.0) -> bool:
        """Delete a blob; False when absent.

        With ``unless_written_within_s`` > 0 (GC), raises PreconditionFailed when the blob
        was written, or put again, that recently: an upload is relying on it. Checked under
        the chunk's lock, so a put cannot slip between the check and the delete.
        """
        self._require_open()
        validate_chunk_id(chunk_id)
        async with self._chunk_lock(chunk_id), self._io_slots:
            if unless_written_within_s > 0:
                try:
                    meta = await self.backend.head(chunk_id)
                except ChunkNotFound:
                    return False
                last_written = max(meta.mtime, self._recent_puts.at(chunk_id))
                age_s = time.time() - last_written
                if age_s < unless_written_within_s:
                    raise PreconditionFailed(
                        f"chunk {chunk_id[:12]} was written {age_s:.1f}s ago; not deleting"
                    )
            return await self.backend.delete(chunk_id)

    # -- reads ---------------------------------------------------------------------

    async def _read_verified(
        self, chunk_id: str, *, check_content: bool = False, proven_blob_sha256: str = ""
    ) -> tuple[BlobMeta, bytes]:
        """The whole blob, proven against its checksum; corrupt → quarantine + raise.

        With ``check_content`` its content id is proven too (see :func:`stored_fault`).
        Raises ChunkNotFound, ChunkCorrupt, Unavailable.
        """
        try:
            async with self._io_slots:
                blob = await self.backend.get(chunk_id)
        except ChunkCorrupt as exc:
            await self._quarantine(chunk_id, exc.message)
            raise
        reason = await cpu_bound(
            check_cost(blob.meta, blob.data, content=check_content), stored_fault,
            blob.meta, blob.data, check_content, proven_blob_sha256,
        )
        if reason is not None:
            await self._quarantine(chunk_id, reason)
            raise ChunkCorrupt(f"chunk {chunk_id}: {reason}; quarantined")
        return blob.meta, blob.data

    async def get(
        self, chunk_id: str, offset: int = 0, length: int = 0, *, verify: bool = True
    ) -> tuple[BlobMeta, bytes]:
        """The verified blob, or its ``[offset, offset+length)`` (length 0: to the end).

        The blob's SHA-256 is checked, its content id is not (see the module docstring).
        With ``verify=False`` the SHA-256 is not checked either: only for a caller that
        checks the bytes itself. Raises ChunkNotFound, ChunkCorrupt (blob quarantined),
        RangeNotSatisfiable (offset beyond the end; the end of a range is clamped),
        Unavailable.
        """
        self._require_open()
        validate_chunk_id(chunk_id)
        if not verify:
            try:
                async with self._io_slots:
                    blob = await self.backend.get(chunk_id, offset, length)
            except ChunkCorrupt as exc:
                await self._quarantine(chunk_id, exc.message)
                raise
            return blob.meta, blob.data
        meta, data = await self._read_verified(chunk_id)
        if offset or length:
            data = slice_range(data, offset, length)
        return meta, data

    async def get_many(
        self, wanted: Sequence[tuple[str, int]], *, verify: bool = True
    ) -> builtins.list[tuple[BlobMeta, bytes] | EchoError]:
        """``get`` of whole blobs for a batch of ``(chunk_id, max_bytes)`` in one backend
        call (one thread hop on the local disk): each its blob or its own error, in order.
        ``verify`` and quarantine are as in ``get``; a blob over its ``max_bytes`` is
        PayloadTooLarge (never quarantined, not read if its header tells).
        """
        self._require_open()
        for chunk_id, _ in wanted:
            validate_chunk_id(chunk_id)  # the servicer checks ids first: a bug otherwise
        blobs = await self._get_many_raw(wanted)
        found = [(i, blob) for i, blob in enumerate(blobs) if isinstance(blob, StoredBlob)]
        faults: builtins.list[str | None] = [None] * len(found)
        if verify and found:
            faults = await cpu_bound(
                sum(len(blob.data) for _, blob in found), stored_faults,
                [(blob.meta, blob.data) for _, blob in found],
            )
        results: builtins.list[tuple[BlobMeta, bytes] | EchoError] = list(blobs)  # type: ignore[arg-type]
        for (index, blob), fault in zip(found, faults, strict=True):
            results[index] = (blob.meta, blob.data)
            if fault is not None:
                await self._quarantine(blob.meta.chunk_id, fault)
                results[index] = ChunkCorrupt(f"chunk {blob.meta.chunk_id}: {fault}; quarantined")
        return results

    async def _get_many_raw(
        self, wanted: Sequence[tuple[str, int]]
    ) -> builtins.list[StoredBlob | EchoError]:
        async with self._io_slots:
            blobs = await self.backend.get_many(
                [chunk_id for chunk_id, _ in wanted], max((m for _, m in wanted), default=0)
            )
        out: builtins.list[StoredBlob | EchoError] = []
        for (chunk_id, max_bytes), blob in zip(wanted, blobs, strict=True):
            if isinstance(blob, ChunkCorrupt):  # unparseable: as in get
                await self._quarantine(chunk_id, blob.message)
            if isinstance(blob, BaseException):
                out.append(as_echo_error(blob, "reading the blob"))
            else:
                out.append(within(blob, max_bytes))
        return out

    async def verify(self, chunk_id: str) -> int:
        """Read and check one blob and its content id (scrubber); returns bytes read, 0
        if it vanished.

        Raises ChunkCorrupt after quarantining a bad blob: one that fails its checksum,
        or whose content does not hash to its id even though the checksum matches.
        """
        self._require_open()
        try:
            meta, _ = await self._read_verified(chunk_id, check_content=True)
        except ChunkNotFound:
            return 0
        return meta.stored_size

    async def has(self, chunk_ids: Sequence[str]) -> list[bool]:
        self._require_open()
        if len(chunk_ids) > MAX_HAS_BATCH:
            raise InvalidInput(f"at most {MAX_HAS_BATCH} chunk ids per HasChunks call")
        for chunk_id in chunk_ids:
            validate_chunk_id(chunk_id)
        async with self._io_slots:
            return await self.backend.exists(chunk_ids)

    async def list(self, after_chunk_id: str = "", limit: int = 1000) -> list[ChunkEntry]:
        self._require_open()
        if after_chunk_id:
            validate_chunk_id(after_chunk_id)
        limit = max(1, min(limit, MAX_LIST_BATCH))
        async with self._io_slots:
            return await self.backend.list(after_chunk_id, limit)

    # -- corruption bookkeeping ----------------------------------------------------

    async def _quarantine(self, chunk_id: str, reason: str) -> None:
        async with self._io_slots:
            moved = await self.backend.quarantine(chunk_id)
        if moved:
            self.corrupt_blobs_found += 1
            self.metrics.corrupt_blobs.inc()
            self._corrupt_pending[chunk_id] = None
            log.error("corrupt blob quarantined", extra={"chunk_id": chunk_id, "reason": reason})

    def take_corrupt_reports(self) -> builtins.list[str]:
        """Corrupt ids found since the last take; give them back if not delivered."""
        reports = list(self._corrupt_pending)
        self._corrupt_pending.clear()
        return reports

    def restore_corrupt_reports(self, chunk_ids: Sequence[str]) -> None:
        for chunk_id in chunk_ids:
            self._corrupt_pending[chunk_id] = None

    # -- status --------------------------------------------------------------------

    def capacity_bytes(self) -> int:
        return self._capacity_override or self.backend.capacity_bytes()

    def status(self) -> StoreStatus:
        usage = self.backend.usage()
        return StoreStatus(
            self.capacity_bytes(), usage.used_bytes, usage.chunk_count, self.corrupt_blobs_found
        )
