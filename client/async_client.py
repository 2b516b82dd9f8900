"""``AsyncClient``: the SDK over asyncio (httpx.AsyncClient). Every operation is a
:class:`~client.protocol.Call` run through :meth:`AsyncClient.call`; transfers
(``put``/``get``) live in ``client.uploads`` and ``client.downloads``, trees
(``put_tree``/``get_tree``) in ``client.trees``, namespace and bucket operations in the
mixin ``client.sdk_namespace.AsyncNamespaceOps``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from client import protocol
from client.config import ClientConfig
from client.downloads import download
from client.errors import ProtocolError
from client.models import (
    ClusterHealth,
    DeleteResult,
    DirEntry,
    DirPage,
    DownloadResult,
    FileInfo,
    Login,
    Presence,
    Profile,
    Receipt,
    SessionInfo,
    SessionStatus,
    UploadResult,
    WorkerHealth,
)
from client.models_ops import TreeResult
from client.progress import ProgressSink
from client.range_streams import RangeStreams
from client.retry import Outcome, RetryPolicy
from client.sdk_access import AsyncAccessOps
from client.sdk_namespace import AsyncNamespaceOps
from client.throttle import Throttle
from client.transport import (
    DEFAULT_TIMEOUT,
    MasterRing,
    async_body,
    classify,
    decide,
    request_kwargs,
    tls_context,
)
from client.transport import to_response as _to_response
from client.trees import TreeOptions, download_tree, upload_tree
from client.uploads import upload

__all__ = ["AsyncClient"]

T = TypeVar("T")


class AsyncClient(AsyncNamespaceOps, AsyncAccessOps):
    def __init__(self, config: ClientConfig, *, policy: RetryPolicy | None = None,
                 max_connections: int = 16, timeout: httpx.Timeout = DEFAULT_TIMEOUT,
                 transport: httpx.AsyncBaseTransport | None = None,
                 stream_transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.policy = policy or RetryPolicy()
        self._ring = MasterRing(config.urls)
        self._http = httpx.AsyncClient(
            timeout=timeout, limits=httpx.Limits(max_connections=max_connections),
            transport=transport, verify=tls_context(config.urls))
        self._streams = RangeStreams(config, self.policy, self._ring, timeout,
                                     max_connections, stream_transport)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        self._streams.close()

    @property
    def master_url(self) -> str:
        return self._ring.url()

    async def call(self, op: protocol.Call[T]) -> T:
        """Send ``op`` (retrying and failing over as ``client.retry`` allows), parse it."""
        request = op.request
        kwargs = request_kwargs(self.config, request)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._exchange(request, kwargs)
            except httpx.TransportError as exc:
                outcome = classify(exc)
                delay = decide(self.policy, self._ring, request, attempt, outcome, None)
                if delay is None:
                    raise self._ring.unreachable(exc) from None
                await asyncio.sleep(delay)
                continue
            delay = decide(self.policy, self._ring, request, attempt, Outcome.ANSWERED,
                           response)
            if delay is None:
                return op.result(response)
            await asyncio.sleep(delay)

    async def _exchange(self, request: protocol.ApiRequest,
                        kwargs: dict[str, Any]) -> protocol.ApiResponse:
        """One try against the current master (see ``client.transport`` on bodies)."""
        if request.content is not None:
            kwargs = {**kwargs, "content": async_body(request.content)}
        built = self._http.build_request(request.method, self._ring.url() + request.path,
                                         **kwargs)
        raw = await self._http.send(built, stream=True)
        try:
            body = b"".join([piece async for piece in raw.aiter_bytes()])
        finally:
            await raw.aclose()
        return _to_response(raw, body)

    def stream_range(self, path: str, start: int, end: int, etag: str,
                     version_id: str | None = None,
                     ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """Bytes ``start..end`` of the version whose SHA-256 is ``etag``, streamed in
        blocks (``async with client.stream_range(...) as blocks: async for block in
        blocks``); opened with :meth:`call`'s retries and failover, read in a worker
        thread (see ``client.range_streams``). A break in mid-stream is the caller's
        to handle; PreconditionFailed if the file changed (``If-Range``)."""
        return self._streams.open(path, start, end, etag, version_id)

    def stream_range_into(self, path: str, start: int, end: int, etag: str, fd: int,
                          version_id: str | None = None,
                          ) -> AbstractAsyncContextManager[AsyncIterator[int]]:
        """:meth:`stream_range`, but the reading thread writes the bytes into ``fd`` at
        their offsets and the iterator yields how many more landed (``get``'s way: the
        bytes never cross into the event loop)."""
        return self._streams.open_into(path, start, end, etag, fd, version_id)

    # --- account -------------------------------------------------------------------
    async def login(self, username: str, password: str) -> Login:
        return await self.call(protocol.login(username, password))

    async def profile(self) -> Profile:
        return await self.call(protocol.profile())

    # --- files ---------------------------------------------------------------------
    async def list_dir(self, remote: str, limit: int = 1000,
                   cursor: str | None = None) -> DirPage:
        """One page of the directory ``bucket/dir`` (``bucket``: its root)."""
        return await self.call(protocol.list_dir(remote, limit, cursor))

    async def ls(self, remote: str) -> list[DirEntry]:
        """Every entry of the directory ``bucket/dir``, following the listing's cursor."""
        entries: list[DirEntry] = []
        cursor: str | None = None
        while True:
            page = await self.list_dir(remote, cursor=cursor)
            entries.extend(page.entries)
            if not page.next_cursor:
                return entries
            cursor = page.next_cursor

    async def stat(self, path: str, version_id: str | None = None) -> protocol.RemoteStat:
        return await self.call(protocol.stat(path, version_id))

    async def info(self, path: str) -> FileInfo:
        """Metadata with chunks and replicas (DESIGN §8) of the file at ``bucket/path``:
        HEAD on its fs route names the file id, the file route has the rest."""
        found = await self.stat(path)
        if not found.file_id:
            raise ProtocolError(f"{path}: the master did not name the file id")
        return await self.call(protocol.file_info(found.file_id))

    async def delete(self, path: str) -> DeleteResult:
        return await self.call(protocol.delete(path))

    async def read_range(self, path: str, start: int, end: int, etag: str,
                         version_id: str | None = None) -> bytes:
        return (await self.call(protocol.read_range(path, start, end, etag, version_id))).data

    async def put_file(self, path: str, data: bytes, consistency: str = "auto") -> Receipt:
        """A small file in one request (``put`` uses it for files of one part)."""
        return await self.call(protocol.put_file(path, data, consistency))

    # --- upload sessions ---------------------------------------------------------------
    async def init_session(self, path: str, file_name: str, file_size: int,
                           sha256: str | None = None, chunk_size: int | None = None,
                           consistency: str = "auto") -> SessionInfo:
        return await self.call(protocol.init_session(path, file_name, file_size, sha256,
                                                     chunk_size, consistency))

    async def session_status(self, session_id: str) -> SessionStatus:
        return await self.call(protocol.session_status(session_id))

    async def put_part(self, session_id: str, index: int, data: bytes) -> dict[str, Any]:
        return await self.call(protocol.put_part(session_id, index, data))

    async def reference_part(self, session_id: str, index: int, chunk_id: str) -> dict[str, Any]:
        return await self.call(protocol.reference_part(session_id, index, chunk_id))

    async def complete_session(self, session_id: str) -> Receipt:
        return await self.call(protocol.complete_session(session_id))

    async def abort_session(self, session_id: str) -> dict[str, Any]:
        return await self.call(protocol.abort_session(session_id))

    async def chunks_has(self, chunk_ids: list[str]) -> Presence:
        present: set[str] = set()
        for start in range(0, len(chunk_ids), protocol.MAX_HAS_IDS):
            batch = chunk_ids[start:start + protocol.MAX_HAS_IDS]
            present |= (await self.call(protocol.chunks_has(batch))).present
        return Presence(frozenset(present))

    # --- cluster -----------------------------------------------------------------------
    async def health(self) -> ClusterHealth:
        return await self.call(protocol.health(self.master_url))

    async def workers(self) -> tuple[WorkerHealth, ...]:
        return await self.call(protocol.workers_health())

    # --- transfers -----------------------------------------------------------------------
    async def put(self, local: Path, remote: str, *, parallel: int = 4,
                  progress: ProgressSink | None = None, **options: Any) -> UploadResult:
        """Upload ``local`` to ``remote`` through a chunk session, resuming an
        interrupted one (see ``client.uploads``)."""
        return await upload(self, Path(local), remote, parallel=parallel, progress=progress,
                            **options)

    async def get(self, remote: str, local: Path, *, parallel: int = 4,
                  progress: ProgressSink | None = None, version_id: str | None = None,
                  throttle: Throttle | None = None) -> DownloadResult:
        """Download ``remote`` (or its version ``version_id``) into ``local`` by parallel
        ranges, resuming ``local.part``, verifying the SHA-256 (see ``client.downloads``)."""
        return await download(self, remote, Path(local), parallel=parallel, progress=progress,
                              version_id=version_id, throttle=throttle)

    async def put_tree(self, local: Path, remote: str, *, options: TreeOptions | None = None,
                       progress: ProgressSink | None = None) -> TreeResult:
        """Upload the directory ``local`` into ``remote`` (``bucket`` or ``bucket/dir``),
        skipping files already there with the same SHA-256 (see ``client.trees``)."""
        return await upload_tree(self, Path(local), remote, options or TreeOptions(), progress)

    async def get_tree(self, remote: str, local: Path, *, options: TreeOptions | None = None,
                       progress: ProgressSink | None = None) -> TreeResult:
        """Download the directory ``remote`` into ``local``, skipping files already there
        with the same SHA-256."""
        return await download_tree(self, remote, Path(local), options or TreeOptions(),
                                   progress)

