"""What the sync and the async client share around the wire: master failover, headers,
and how an httpx failure counts for the retry policy (``client.retry``).

Both send loops are the same five steps — pick the current master, send, classify, ask
the policy, wait — written once per I/O style (``Client._send``, ``AsyncClient._send``);
every decision in them is made here or in ``RetryPolicy``.
"""

from __future__ import annotations

import functools
import json
import logging
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from client.config import ClientConfig
from client.errors import ConnectionFailed
from client.protocol import ApiRequest, ApiResponse
from client.retry import GATEWAY_STATUSES, Outcome, RetryPolicy
from common.errors import Unauthenticated

__all__ = [
    "DEFAULT_TIMEOUT", "MasterRing", "async_body", "classify", "request_kwargs", "sync_body",
    "tls_context", "to_response",
]

log = logging.getLogger(__name__)

# Connect fast (the next master may answer); a 4 MiB part under load may take a while.
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=300.0, write=300.0, pool=300.0)


@dataclass
class MasterRing:
    """The configured master URLs, tried in order; a failed one hands over to the next.

    The client remembers the master that last answered, so one dead master costs one
    connect attempt per client, not one per request.
    """

    urls: tuple[str, ...]
    current: int = 0
    tried: list[str] = field(default_factory=list)

    def url(self) -> str:
        return self.urls[self.current % len(self.urls)]

    def advance(self) -> None:
        self.current = (self.current + 1) % len(self.urls)

    def unreachable(self, exc: BaseException | None) -> ConnectionFailed:
        reason = f": {type(exc).__name__}" if exc is not None else ""
        return ConnectionFailed(
            f"no master answered ({', '.join(self.urls)}){reason}",
            details={"urls": list(self.urls)},
        )


@functools.cache
def _verifying_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def tls_context(urls: tuple[str, ...]) -> ssl.SSLContext:
    """The TLS settings for these masters. Loading the CA bundle takes ~0.4 s, which
    every ``echofs`` command paid twice even when no URL is https; an http-only
    configuration gets a context with no CA at all (it fails closed should TLS ever be
    used), and https ones share one verifying context per process."""
    if any(url.startswith("https://") for url in urls):
        return _verifying_context()
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def classify(exc: httpx.TransportError) -> Outcome:
    """Whether the request can have reached the server (see ``client.retry``)."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return Outcome.NOT_SENT
    return Outcome.NO_ANSWER


def request_kwargs(config: ClientConfig, request: ApiRequest) -> dict[str, Any]:
    """httpx arguments of ``request``, except a raw body: that is :func:`sync_body` or
    :func:`async_body`, made afresh for every try."""
    headers = dict(request.headers)
    if request.authenticated:
        if not config.token:
            raise Unauthenticated("not logged in: run `echofs login` or set ECHOFS_TOKEN")
        headers["Authorization"] = f"Bearer {config.token}"
    kwargs: dict[str, Any] = {"headers": headers, "params": dict(request.params)}
    if request.json_body is not None:
        kwargs["json"] = request.json_body
    elif request.content is not None:
        headers["Content-Length"] = str(len(request.content))
    return kwargs


# Why bodies are one-shot iterators and answers are streamed: httpx's Request and
# Response objects outlive the call (they sit in reference cycles until the cyclic GC
# runs), and with them a part's bytes given as ``content=`` or read as ``.content``.
# With 4 MiB parts that kept ~10 parts alive per upload instead of one per lane. An
# iterator that lets go of the bytes once sent, and a body joined by us, keep memory at
# about ``parallel x part`` (tests/integration/test_cli_large.py measures it).


def sync_body(data: bytes) -> Iterator[bytes]:
    holder = [data]
    del data
    while holder:
        yield holder.pop()


async def async_body(data: bytes) -> AsyncIterator[bytes]:
    holder = [data]
    del data
    while holder:
        yield holder.pop()


def to_response(response: httpx.Response, body: bytes) -> ApiResponse:
    return ApiResponse(response.status_code,
                       {k.lower(): v for k, v in response.headers.items()},
                       body, str(response.url))


def from_gateway(response: ApiResponse) -> bool:
    """A 502/504 that is not EchoFS's JSON envelope: a proxy's or load balancer's page."""
    if response.status not in GATEWAY_STATUSES:
        return False
    try:
        envelope = json.loads(response.body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return True
    return not (isinstance(envelope, dict) and "code" in envelope)


def decide(policy: RetryPolicy, ring: MasterRing, request: ApiRequest, attempt: int,
           outcome: Outcome, response: ApiResponse | None) -> float | None:
    """The wait before the next try (moving to the next master when that helps), or None."""
    status = response.status if response is not None else None
    if status is not None and (status < 400 or status in request.ok_statuses):
        return None
    gateway = response is not None and from_gateway(response)
    delay = policy.delay_s(attempt, idempotent=request.idempotent, outcome=outcome,
                           status=status,
                           retry_after=response.headers.get("retry-after") if response else None,
                           gateway=gateway)
    if delay is not None:
        if policy.switches_master(outcome, status, gateway):
            ring.advance()
        log.debug("retrying %s %s in %.2fs (try %d, %s, status %s)", request.method,
                  request.path, delay, attempt + 1, outcome.value, status)
    return delay


__all__ += ["decide", "from_gateway"]
