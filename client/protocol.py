"""The sans-I/O core of the SDK: every API operation as a request to send and a parser
of the answer, with no network in sight.

Why sans-I/O: the sync :class:`~client.sync_client.Client` and the async
:class:`~client.async_client.AsyncClient` differ only in how bytes cross the wire. Each
operation here is a :class:`Call` — an :class:`ApiRequest` plus ``parse`` — that both run
through their own ~30-line send loop (retries, failover). The routes, the envelope, the
error mapping and the typed results exist once, and are unit-tested without a server.
(Wrapping the async client in a private event loop would also avoid duplication, but it
hides a thread and a loop inside every sync call and breaks in callers that already run
one; the transfers, which need concurrency, are async and are run with ``asyncio.run`` by
the sync client — see ``client.transfers``.)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from client import addressing
from client.errors import ProtocolError, error_from_response
from client.models import (
    BucketEntry,
    ClusterHealth,
    DeleteResult,
    DirPage,
    FileInfo,
    Login,
    Presence,
    Profile,
    Receipt,
    SessionInfo,
    SessionStatus,
    WorkerHealth,
)
from common.errors import PreconditionFailed

__all__ = [
    "ApiRequest",
    "ApiResponse",
    "Call",
    "RemoteStat",
    "abort_session",
    "chunks_has",
    "complete_session",
    "data_of",
    "delete",
    "etag_sha",
    "file_info",
    "health",
    "init_session",
    "list_buckets",
    "list_dir",
    "login",
    "profile",
    "put_file",
    "put_part",
    "read_range",
    "reference_part",
    "session_status",
    "stat",
    "workers_health",
]

T = TypeVar("T")

# chunks/has takes at most this many ids per request (the master's limit).
MAX_HAS_IDS = 10_000


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One HTTP request, relative to a master's base URL.

    ``idempotent`` says whether sending it twice has the effect of sending it once; only
    such requests are retried after they may have reached the server (``client.retry``).
    """

    method: str
    path: str
    idempotent: bool
    params: Mapping[str, str] = field(default_factory=dict)
    json_body: Any = None
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    authenticated: bool = True
    ok_statuses: frozenset[int] = frozenset()  # error statuses that still parse (health)


@dataclass(frozen=True, slots=True)
class ApiResponse:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    url: str


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    request: ApiRequest
    parse: Callable[[ApiResponse], T]

    def result(self, response: ApiResponse) -> T:
        """The typed result, or the server's error as its exception class."""
        if response.status >= 400 and response.status not in self.request.ok_statuses:
            raise error_from_response(response.status, response.body, response.headers)
        return self.parse(response)


def data_of(response: ApiResponse) -> dict[str, Any]:
    try:
        envelope = json.loads(response.body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ProtocolError(f"HTTP {response.status}: the answer is not JSON") from None
    data = envelope.get("data") if isinstance(envelope, dict) else None
    if not isinstance(data, dict):
        raise ProtocolError(f"HTTP {response.status}: the answer has no data object")
    return data


def login(username: str, password: str) -> Call[Login]:
    # Not idempotent: each failed attempt counts against the login throttle.
    request = ApiRequest("POST", "/api/v1/auth/login", idempotent=False,
                         json_body={"username": username, "password": password},
                         authenticated=False)
    return Call(request, lambda r: Login.from_json(data_of(r)))


def profile() -> Call[Profile]:
    request = ApiRequest("GET", "/api/v1/auth/profile", idempotent=True)
    return Call(request, lambda r: Profile.from_json(data_of(r)))


def list_dir(remote: str, limit: int = 1000, cursor: str | None = None, *,
             recursive: bool = False) -> Call[DirPage]:
    """One page of the directory ``bucket/dir`` (``bucket``: its root). ``recursive``:
    everything below it, by path, each entry's ``name`` relative to the directory."""
    params = {"limit": str(limit)}
    if cursor:
        params["cursor"] = cursor
    if recursive:
        params["recursive"] = "true"
    request = ApiRequest("GET", addressing.dir_route(remote), idempotent=True, params=params)
    return Call(request, lambda r: DirPage.from_json(data_of(r)))


@dataclass(frozen=True, slots=True)
class BucketPage:
    buckets: tuple[BucketEntry, ...]
    next_after: str | None  # pass as ``after`` for the next page; None at the end


def list_buckets(after: str | None = None, limit: int = 1000) -> Call[BucketPage]:
    """One page of the caller's buckets, by name."""
    params = {"limit": str(limit)}
    if after:
        params["after"] = after

    def parse(r: ApiResponse) -> BucketPage:
        data = data_of(r)
        after = data.get("next_after")
        return BucketPage(tuple(BucketEntry.from_json(b) for b in data.get("buckets", [])),
                          str(after) if after else None)
    request = ApiRequest("GET", addressing.BUCKETS_ROUTE, idempotent=True, params=params)
    return Call(request, parse)


def file_info(file_id: str) -> Call[FileInfo]:
    request = ApiRequest("GET", f"/api/v1/files/{addressing.quote(file_id)}", idempotent=True)
    return Call(request, lambda r: FileInfo.from_json(data_of(r)))


@dataclass(frozen=True, slots=True)
class RemoteStat:
    """What HEAD says of a file: enough to plan a download."""

    path: str
    size: int
    sha256: str
    last_modified: str
    file_id: str = ""  # X-Echofs-File-Id: where ``file_info`` finds chunks and replicas

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256,
                "last_modified": self.last_modified, "file_id": self.file_id}


def etag_sha(headers: Mapping[str, str]) -> str:
    return headers.get("etag", "").strip().removeprefix("W/").strip('"')


def _version_params(version_id: str | None) -> dict[str, str]:
    return {"version_id": version_id} if version_id else {}


def stat(path: str, version_id: str | None = None) -> Call[RemoteStat]:
    """HEAD of the current version, or of ``version_id``."""
    def parse(r: ApiResponse) -> RemoteStat:
        return RemoteStat(path, int(r.headers.get("content-length", "0")), etag_sha(r.headers),
                          r.headers.get("last-modified", ""),
                          r.headers.get("x-echofs-file-id", ""))
    request = ApiRequest("HEAD", addressing.file_route(path), idempotent=True,
                         params=_version_params(version_id))
    return Call(request, parse)


@dataclass(frozen=True, slots=True)
class RangeBytes:
    data: bytes
    sha256: str  # the ETag the bytes belong to


def read_range(path: str, start: int, end: int, etag: str,
               version_id: str | None = None) -> Call[RangeBytes]:
    """Bytes ``start..end`` inclusive of the version whose sha256 is ``etag`` (the
    current one, or ``version_id``).

    ``If-Range`` makes a changed file answer 200 with the whole new version instead of
    a range of it; that is refused here (``PreconditionFailed``) rather than read.
    """
    headers = {"Range": f"bytes={start}-{end}", "If-Range": f'"{etag}"'}

    def parse(r: ApiResponse) -> RangeBytes:
        if r.status != 206 or etag_sha(r.headers) != etag:
            raise PreconditionFailed(f"{path} changed on the server while downloading")
        if len(r.body) != end - start + 1:
            raise ProtocolError(f"range {start}-{end} of {path}: got {len(r.body)} bytes")
        return RangeBytes(r.body, etag)
    request = ApiRequest("GET", addressing.file_route(path), idempotent=True, headers=headers,
                         params=_version_params(version_id))
    return Call(request, parse)


def delete(path: str) -> Call[DeleteResult]:
    # DELETE of a path is idempotent in effect; a retry after a lost answer may say
    # not_found, which the caller sees as such.
    request = ApiRequest("DELETE", addressing.file_route(path), idempotent=True)
    return Call(request, lambda r: DeleteResult.from_json(data_of(r)))


def put_file(path: str, data: bytes, consistency: str = "auto") -> Call[Receipt]:
    """The whole file in one ``PUT /api/v1/fs/{bucket}/{path}`` (small files: one
    request instead of a session's four). Retried after a lost answer: the same bytes
    at the same path leave the same content current (a versioned bucket may keep one
    extra identical version)."""
    request = ApiRequest("PUT", addressing.file_route(path), idempotent=True, content=data,
                         params={"consistency": consistency},
                         headers={"Content-Type": "application/octet-stream"})
    return Call(request, lambda r: Receipt.from_json(data_of(r)))


def init_session(path: str, file_name: str, file_size: int, sha256: str | None,
                 chunk_size: int | None = None, consistency: str = "auto") -> Call[SessionInfo]:
    body: dict[str, Any] = {"file_name": file_name, "file_size": file_size,
                            **addressing.session_fields(path), "consistency": consistency}
    if sha256:
        body["sha256"] = sha256
    if chunk_size:
        body["chunk_size"] = chunk_size
    request = ApiRequest("POST", "/api/v1/files/upload/init", idempotent=False, json_body=body)
    return Call(request, lambda r: SessionInfo.from_json(data_of(r)))


def _session_route(session_id: str) -> str:
    return f"/api/v1/files/upload/{addressing.quote(session_id)}"


def session_status(session_id: str) -> Call[SessionStatus]:
    request = ApiRequest("GET", _session_route(session_id), idempotent=True)
    return Call(request, lambda r: SessionStatus.from_json(data_of(r)))


def put_part(session_id: str, index: int, data: bytes) -> Call[dict[str, Any]]:
    """Idempotent by the server's contract: the same bytes at the same index twice is
    one part (``already_present``)."""
    request = ApiRequest("PUT", f"{_session_route(session_id)}/chunks/{index}",
                         idempotent=True, content=data,
                         headers={"Content-Type": "application/octet-stream"})
    return Call(request, data_of)


def reference_part(session_id: str, index: int, chunk_id: str) -> Call[dict[str, Any]]:
    request = ApiRequest("PUT", f"{_session_route(session_id)}/chunks/{index}",
                         idempotent=True, headers={"X-Chunk-Id": chunk_id})
    return Call(request, data_of)


def complete_session(session_id: str) -> Call[Receipt]:
    # Not idempotent: a retry after a lost answer would find the session closed.
    request = ApiRequest("POST", f"{_session_route(session_id)}/complete", idempotent=False)
    return Call(request, lambda r: Receipt.from_json(data_of(r)))


def abort_session(session_id: str) -> Call[dict[str, Any]]:
    return Call(ApiRequest("DELETE", _session_route(session_id), idempotent=True), data_of)


def chunks_has(chunk_ids: list[str]) -> Call[Presence]:
    if len(chunk_ids) > MAX_HAS_IDS:
        raise ValueError(f"at most {MAX_HAS_IDS} ids per chunks/has request")
    # A question, not a change: safe to ask twice even though it is a POST.
    request = ApiRequest("POST", "/api/v1/chunks/has", idempotent=True,
                         json_body={"chunk_ids": chunk_ids})
    return Call(request, lambda r: Presence.from_json(data_of(r)))


def health(master_url: str) -> Call[ClusterHealth]:
    """Cluster health; a 503 (``unavailable``) still carries the report."""
    def parse(r: ApiResponse) -> ClusterHealth:
        try:
            body = json.loads(r.body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ProtocolError(f"HTTP {r.status}: health answer is not JSON") from None
        return ClusterHealth.from_json(body.get("data") or body, master_url)
    request = ApiRequest("GET", "/api/v1/health", idempotent=True, authenticated=False,
                         ok_statuses=frozenset({503}))
    return Call(request, parse)


def workers_health() -> Call[tuple[WorkerHealth, ...]]:
    def parse(r: ApiResponse) -> tuple[WorkerHealth, ...]:
        return tuple(WorkerHealth.from_json(w) for w in data_of(r).get("workers", []))
    return Call(ApiRequest("GET", "/api/v1/workers/health", idempotent=True), parse)


__all__ += ["MAX_HAS_IDS", "BucketPage", "RangeBytes"]
