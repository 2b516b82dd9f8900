"""The cluster's identity: who may call a worker, register one, or steer the controller.

DESIGN.md §15. Two layers, both derived from settings every cluster process shares:

* **Per-call credential** (always): each worker RPC carries ``x-echofs-auth`` metadata
  and each cluster HTTP call an ``X-EchoFS-Cluster-Auth`` header, of the form
  ``v1.<unix seconds>.<hex HMAC-SHA256>``. The HMAC key is derived from
  ``CLUSTER_SECRET``; the signed text is the purpose (the gRPC method path, or
  ``"<METHOD> <path>"`` for HTTP) and the time, so a token proves knowledge of the
  secret without carrying it, works for one method only, and expires after
  :data:`TOKEN_WINDOW_S`. Without TLS an eavesdropper on the cluster network could
  replay a token for that method inside the window — the same network sees the data
  itself, which is why production clusters turn TLS on.
* **Mutual TLS** (``CLUSTER_TLS_CA_FILE`` / ``_CERT_FILE`` / ``_KEY_FILE``): a worker's
  gRPC port accepts only clients with a certificate from the cluster CA, and every
  client checks the worker's certificate names the worker id it meant to dial
  (``grpc.ssl_target_name_override``), so a registered address cannot be answered by
  another machine. The health service then also listens on a plaintext port of its
  own (Kubernetes' native gRPC probes present no certificate and speak no TLS).

``grpc.health.v1`` is the only service that needs neither.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

__all__ = [
    "GRPC_AUTH_METADATA",
    "HEALTH_SERVICE_PREFIX",
    "HTTP_AUTH_HEADER",
    "TOKEN_WINDOW_S",
    "ClusterAuthInterceptor",
    "ClusterIdentity",
    "ClusterTls",
]

GRPC_AUTH_METADATA = "x-echofs-auth"
HTTP_AUTH_HEADER = "X-EchoFS-Cluster-Auth"
HEALTH_SERVICE_PREFIX = "/grpc.health.v1.Health/"
TOKEN_WINDOW_S = 300
_KEY_LABEL = b"echofs cluster call credential v1"
_REFRESH_S = 30


@dataclass(frozen=True)
class ClusterTls:
    """The cluster CA and this process's certificate, as PEM bytes."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    @classmethod
    def from_files(cls, ca_file: Path, cert_file: Path, key_file: Path) -> ClusterTls:
        return cls(Path(ca_file).read_bytes(), Path(cert_file).read_bytes(),
                   Path(key_file).read_bytes())

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_pem, private_key=self.key_pem,
            certificate_chain=self.cert_pem,
        )

    def server_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.key_pem, self.cert_pem)], root_certificates=self.ca_pem,
            require_client_auth=True,
        )


@dataclass
class ClusterIdentity:
    """Signs and checks per-call credentials; builds channels to workers.

    ``secret`` must already have passed ``common.startup_checks.check_secret``.
    """

    secret: str
    tls: ClusterTls | None = None
    _key: bytes = field(init=False, repr=False)
    _cache: dict[str, tuple[int, str]] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._key = hmac.new(self.secret.encode(), _KEY_LABEL, hashlib.sha256).digest()

    @classmethod
    def from_settings(cls, settings: Any) -> ClusterIdentity:
        """From any settings object with cluster_secret and the cluster_tls_* fields."""
        files = (settings.cluster_tls_ca_file, settings.cluster_tls_cert_file,
                 settings.cluster_tls_key_file)
        tls = ClusterTls.from_files(*files) if all(files) else None
        return cls(settings.cluster_secret, tls)

    # -- tokens ------------------------------------------------------------------------

    def _sign(self, purpose: str, at_s: int) -> str:
        digest = hmac.new(self._key, f"{purpose}|{at_s}".encode(), hashlib.sha256).hexdigest()
        return f"v1.{at_s}.{digest}"

    def token(self, purpose: str) -> str:
        """A credential for ``purpose``; reused for up to _REFRESH_S seconds."""
        now = int(time.time())
        cached = self._cache.get(purpose)
        if cached is not None and now - cached[0] < _REFRESH_S:
            return cached[1]
        token = self._sign(purpose, now)
        if len(self._cache) > 256:
            self._cache.clear()
        self._cache[purpose] = (now, token)
        return token

    def verify(self, token: str, purpose: str) -> bool:
        """True only for a well-formed, unexpired token this secret made for ``purpose``."""
        parts = token.split(".") if isinstance(token, str) and len(token) < 200 else []
        if len(parts) != 3 or parts[0] != "v1" or not parts[1].isdigit():
            return False
        at_s = int(parts[1])
        if abs(time.time() - at_s) > TOKEN_WINDOW_S:
            return False
        return hmac.compare_digest(self._sign(purpose, at_s), token)

    def grpc_metadata(self, method: str) -> tuple[tuple[str, str], ...]:
        """Metadata for a call of ``method`` (``/echofs.v1.Worker/PutChunk``)."""
        return ((GRPC_AUTH_METADATA, self.token(method)),)

    def http_headers(self, method: str, path: str) -> dict[str, str]:
        return {HTTP_AUTH_HEADER: self.token(f"{method.upper()} {path}")}

    def verify_http(self, headers: Any, method: str, path: str) -> bool:
        return self.verify(headers.get(HTTP_AUTH_HEADER, ""), f"{method.upper()} {path}")

    # -- channels ----------------------------------------------------------------------

    def signed_channel(
        self, address: str, server_name: str, options: Sequence[tuple[str, Any]] = (),
    ) -> grpc.aio.Channel:
        """Like :meth:`channel`, but every call is signed by an interceptor (tools, tests).

        The master signs explicitly instead (its data-path calls bypass interceptors).
        """
        interceptors = [kind(self) for kind in _ASYNC_KINDS]
        if self.tls is None:
            return grpc.aio.insecure_channel(address, options=list(options),
                                             interceptors=interceptors)
        return grpc.aio.secure_channel(
            address, self.tls.channel_credentials(),
            options=[*options, ("grpc.ssl_target_name_override", server_name)],
            interceptors=interceptors,
        )

    def signed_sync_channel(
        self, address: str, server_name: str, options: Sequence[tuple[str, Any]] = (),
    ) -> grpc.Channel:
        """A blocking channel whose calls are signed (tools, tests)."""
        return grpc.intercept_channel(
            self.sync_channel(address, server_name, options), _SyncSigner(self)
        )

    def channel(
        self, address: str, server_name: str, options: Sequence[tuple[str, Any]] = (),
    ) -> grpc.aio.Channel:
        """An asyncio channel to the worker ``server_name`` at ``address``.

        With TLS the worker must present a cluster certificate naming ``server_name``.
        """
        if self.tls is None:
            return grpc.aio.insecure_channel(address, options=list(options))
        return grpc.aio.secure_channel(
            address, self.tls.channel_credentials(),
            options=[*options, ("grpc.ssl_target_name_override", server_name)],
        )

    def sync_channel(
        self, address: str, server_name: str, options: Sequence[tuple[str, Any]] = (),
    ) -> grpc.Channel:
        """A blocking channel, for tools and tests."""
        if self.tls is None:
            return grpc.insecure_channel(address, options=list(options))
        return grpc.secure_channel(
            address, self.tls.channel_credentials(),
            options=[*options, ("grpc.ssl_target_name_override", server_name)],
        )


Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]]


def _denied(handler: grpc.RpcMethodHandler, reason: str) -> grpc.RpcMethodHandler:
    """A handler of the same shape as ``handler`` that refuses without reading."""
    status = grpc.StatusCode.UNAUTHENTICATED
    details = f"unauthenticated: {reason}"
    if handler.response_streaming:
        async def deny_stream(_request: Any, context: grpc.aio.ServicerContext) -> Any:
            await context.abort(status, details)
            yield  # pragma: no cover - makes this an async generator

        if handler.request_streaming:
            return grpc.stream_stream_rpc_method_handler(deny_stream)
        return grpc.unary_stream_rpc_method_handler(deny_stream)

    async def deny(_request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(status, details)

    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(deny)
    return grpc.unary_unary_rpc_method_handler(deny)


class ClusterAuthInterceptor(grpc.aio.ServerInterceptor):
    """Every call but ``grpc.health.v1`` must carry a valid per-call credential.

    A refused call gets UNAUTHENTICATED before its handler runs: nothing is read,
    written or deleted. ``on_refused`` is called with the method (for a metric).
    """

    def __init__(
        self, identity: ClusterIdentity, on_refused: Callable[[str], None] | None = None
    ) -> None:
        self._identity = identity
        self._on_refused = on_refused

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        if method.startswith(HEALTH_SERVICE_PREFIX):
            return await continuation(handler_call_details)
        token = ""
        for key, value in handler_call_details.invocation_metadata or ():
            if key == GRPC_AUTH_METADATA:
                token = value if isinstance(value, str) else ""
                break
        handler = await continuation(handler_call_details)
        if handler is None or self._identity.verify(token, method):
            return handler
        if self._on_refused is not None:
            self._on_refused(method)
        reason = "missing cluster credential" if not token else "invalid cluster credential"
        return _denied(handler, reason)


def _with_auth(identity: ClusterIdentity, details: Any) -> Any:
    method = details.method.decode() if isinstance(details.method, bytes) else details.method
    metadata = list(details.metadata or ())
    metadata.extend(identity.grpc_metadata(method))
    return details._replace(metadata=metadata)


class _AsyncSigner:
    """Base of the aio client interceptors that add the call credential."""

    def __init__(self, identity: ClusterIdentity) -> None:
        self._identity = identity

    async def _call(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_auth(self._identity, details), request)


class _SignUnaryUnary(_AsyncSigner, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await self._call(continuation, details, request)


class _SignUnaryStream(_AsyncSigner, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await self._call(continuation, details, request)


class _SignStreamUnary(_AsyncSigner, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await self._call(continuation, details, request)


class _SignStreamStream(_AsyncSigner, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation: Any, details: Any,
                                      request: Any) -> Any:
        return await self._call(continuation, details, request)


_ASYNC_KINDS: tuple[type[_AsyncSigner], ...] = (
    _SignUnaryUnary, _SignUnaryStream, _SignStreamUnary, _SignStreamStream,
)


class _SyncSigner(
    grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor,
):
    def __init__(self, identity: ClusterIdentity) -> None:
        self._identity = identity

    def _details(self, details: Any) -> Any:
        return _SyncDetails(details, self._identity)

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)


class _SyncDetails(grpc.ClientCallDetails):
    def __init__(self, details: Any, identity: ClusterIdentity) -> None:
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = [*(details.metadata or ()), *identity.grpc_metadata(details.method)]
        self.credentials = details.credentials
        self.wait_for_ready = getattr(details, "wait_for_ready", None)
        self.compression = getattr(details, "compression", None)
