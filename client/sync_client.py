"""``Client``: the SDK for code without an event loop (httpx.Client).

Requests and answers are :mod:`client.protocol`'s, shared with ``AsyncClient``; only the
send loop below is the sync twin of ``AsyncClient.call``. Transfers need concurrency, so
``put``/``get`` run the async engine in a private event loop (``asyncio.run``): call them
from plain code, or use ``AsyncClient`` inside a running loop.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from client import protocol
from client.async_client import AsyncClient
from client.config import ClientConfig
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
from client.retry import Outcome, RetryPolicy
from client.sdk_access import AccessOps
from client.sdk_namespace import NamespaceOps
from client.throttle import Throttle
from client.transport import (
    DEFAULT_TIMEOUT,
    MasterRing,
    classify,
    decide,
    request_kwargs,
    sync_body,
    tls_context,
)
from client.transport import to_response as _to_response
from client.trees import TreeOptions

__all__ = ["Client"]

T = TypeVar("T")


class Client(NamespaceOps, AccessOps):
    def __init__(self, config: ClientConfig, *, policy: RetryPolicy | None = None,
                 timeout: httpx.Timeout = DEFAULT_TIMEOUT,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.policy = policy or RetryPolicy()
        self._timeout = timeout
        self._ring = MasterRing(config.urls)
        self._http = httpx.Client(timeout=timeout, transport=transport,
                                  verify=tls_context(config.urls))

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def master_url(self) -> str:
        return self._ring.url()

    def call(self, op: protocol.Call[T]) -> T:
        """Send ``op`` (retrying and failing over as ``client.retry`` allows), parse it."""
        request = op.request
        kwargs = request_kwargs(self.config, request)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._exchange(request, kwargs)
            except httpx.TransportError as exc:
                delay = decide(self.policy, self._ring, request, attempt, classify(exc), None)
                if delay is None:
                    raise self._ring.unreachable(exc) from None
                time.sleep(delay)
                continue
            delay = decide(self.policy, self._ring, request, attempt, Outcome.ANSWERED,
                           response)
            if delay is None:
                return op.result(response)
            time.sleep(delay)

    def _exchange(self, request: protocol.ApiRequest,
                  kwargs: dict[str, Any]) -> protocol.ApiResponse:
        """One try against the current master (see ``client.transport`` on bodies)."""
        if request.content is not None:
            kwargs = {**kwargs, "content": sync_body(request.content)}
        built = self._http.build_request(request.method, self._ring.url() + request.path,
                                         **kwargs)
        raw = self._http.send(built, stream=True)
        try:
            body = b"".join(list(raw.iter_bytes()))
        finally:
            raw.close()
        return _to_response(raw, body)

    # --- account ---------------------------------------------------------------------
    def login(self, username: str, password: str) -> Login:
        return self.call(protocol.login(username, password))

    def profile(self) -> Profile:
        return self.call(protocol.profile())

    # --- files -----------------------------------------------------------------------
    def list_dir(self, remote: str, limit: int = 1000,
                 cursor: str | None = None) -> DirPage:
        """One page of the directory ``bucket/dir`` (``bucket``: its root)."""
        return self.call(protocol.list_dir(remote, limit, cursor))

    def ls(self, remote: str) -> list[DirEntry]:
        """Every entry of the directory ``bucket/dir``, following the listing's cursor."""
        entries: list[DirEntry] = []
        cursor: str | None = None
        while True:
            page = self.list_dir(remote, cursor=cursor)
            entries.extend(page.entries)
            if not page.next_cursor:
                return entries
            cursor = page.next_cursor

    def stat(self, path: str, version_id: str | None = None) -> protocol.RemoteStat:
        return self.call(protocol.stat(path, version_id))

    def info(self, path: str) -> FileInfo:
        """Metadata with chunks and replicas (DESIGN §8) of the file at ``bucket/path``:
        HEAD on its fs route names the file id, the file route has the rest."""
        found = self.stat(path)
        if not found.file_id:
            raise ProtocolError(f"{path}: the master did not name the file id")
        return self.call(protocol.file_info(found.file_id))

    def delete(self, path: str) -> DeleteResult:
        return self.call(protocol.delete(path))

    def read_range(self, path: str, start: int, end: int, etag: str,
                   version_id: str | None = None) -> bytes:
        return self.call(protocol.read_range(path, start, end, etag, version_id)).data

    def put_file(self, path: str, data: bytes, consistency: str = "auto") -> Receipt:
        """A small file in one request (``put`` uses it for files of one part)."""
        return self.call(protocol.put_file(path, data, consistency))

    # --- upload sessions ---------------------------------------------------------------
    def init_session(self, path: str, file_name: str, file_size: int,
                     sha256: str | None = None, chunk_size: int | None = None,
                     consistency: str = "auto") -> SessionInfo:
        return self.call(protocol.init_session(path, file_name, file_size, sha256,
                                               chunk_size, consistency))

    def session_status(self, session_id: str) -> SessionStatus:
        return self.call(protocol.session_status(session_id))

    def put_part(self, session_id: str, index: int, data: bytes) -> dict[str, Any]:
        return self.call(protocol.put_part(session_id, index, data))

    def reference_part(self, session_id: str, index: int, chunk_id: str) -> dict[str, Any]:
        return self.call(protocol.reference_part(session_id, index, chunk_id))

    def complete_session(self, session_id: str) -> Receipt:
        return self.call(protocol.complete_session(session_id))

    def abort_session(self, session_id: str) -> dict[str, Any]:
        return self.call(protocol.abort_session(session_id))

    def chunks_has(self, chunk_ids: list[str]) -> Presence:
        present: set[str] = set()
        for start in range(0, len(chunk_ids), protocol.MAX_HAS_IDS):
            batch = chunk_ids[start:start + protocol.MAX_HAS_IDS]
            present |= self.call(protocol.chunks_has(batch)).present
        return Presence(frozenset(present))

    # --- cluster -----------------------------------------------------------------------
    def health(self) -> ClusterHealth:
        return self.call(protocol.health(self.master_url))

    def workers(self) -> tuple[WorkerHealth, ...]:
        return self.call(protocol.workers_health())

    # --- transfers (the async engine, in a private loop) -------------------------------
    def put(self, local: Path, remote: str, *, parallel: int = 4,
            progress: ProgressSink | None = None, **options: Any) -> UploadResult:
        async def run() -> UploadResult:
            async with self._async(parallel) as client:
                return await client.put(local, remote, parallel=parallel, progress=progress,
                                        **options)
        return asyncio.run(run())

    def get(self, remote: str, local: Path, *, parallel: int = 4,
            progress: ProgressSink | None = None, version_id: str | None = None,
            throttle: Throttle | None = None) -> DownloadResult:
        async def run() -> DownloadResult:
            async with self._async(parallel) as client:
                return await client.get(remote, local, parallel=parallel, progress=progress,
                                        version_id=version_id, throttle=throttle)
        return asyncio.run(run())

    def put_tree(self, local: Path, remote: str, *, options: TreeOptions | None = None,
                 progress: ProgressSink | None = None) -> TreeResult:
        """Upload the directory ``local`` into ``remote`` (see ``client.trees``)."""
        opts = options or TreeOptions()

        async def run() -> TreeResult:
            async with self._async(opts.transfers * opts.parallel) as client:
                return await client.put_tree(local, remote, options=opts, progress=progress)
        return asyncio.run(run())

    def get_tree(self, remote: str, local: Path, *, options: TreeOptions | None = None,
                 progress: ProgressSink | None = None) -> TreeResult:
        """Download the directory ``remote`` into ``local`` (see ``client.trees``)."""
        opts = options or TreeOptions()

        async def run() -> TreeResult:
            async with self._async(opts.transfers * opts.parallel) as client:
                return await client.get_tree(remote, local, options=opts, progress=progress)
        return asyncio.run(run())

    def _async(self, parallel: int) -> AsyncClient:
        client = AsyncClient(self.config, policy=self.policy, timeout=self._timeout,
                             max_connections=parallel + 2)
        client._ring.current = self._ring.current  # start at the master that answered
        return client


