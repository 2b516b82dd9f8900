"""The server's error codes as exceptions, on the client side.

The classes are :mod:`common.errors`' own — one vocabulary on both sides of the wire, so
``except NotFound`` means the same in a service and in a script. This module only turns
an HTTP answer (or a failed connection) back into one of them::

    EchoError (common.errors)          raised for
    ├── …every class of common.errors  an error body whose "code" is that class's code
    ├── ServerError     code=internal  a 5xx without a known code (the server's bug)
    ├── ProtocolError   code=protocol  an answer that is not EchoFS's JSON envelope
    └── Unavailable
        └── ConnectionFailed           no master answered (refused, reset, timed out)

Codes the server adds later (``quota_exceeded``, ``bucket_exists`` of issues 16-17) are
found by walking the hierarchy, so a new subclass in ``common.errors`` needs no change
here; an unknown code falls back to the class of its HTTP status, keeping the code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from common.errors import (
    HTTP_STATUS,
    EchoError,
    Forbidden,
    NotFound,
    RateLimited,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
)

__all__ = [
    "ConnectionFailed",
    "ProtocolError",
    "ServerError",
    "class_for_code",
    "error_from_response",
]


class ServerError(EchoError):
    """A 5xx answer without a code this client knows (``internal``: a server bug)."""

    code = "internal"


class ProtocolError(EchoError):
    """The answer is not EchoFS's JSON envelope (a proxy's page, a truncated body)."""

    code = "protocol"


class ConnectionFailed(Unavailable):
    """No master could be reached; ``details["urls"]`` lists the ones tried."""

    code = "connection_failed"


def _all_subclasses(cls: type[EchoError]) -> list[type[EchoError]]:
    found: list[type[EchoError]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


def class_for_code(code: str) -> type[EchoError] | None:
    """The most specific class whose stable ``code`` is ``code``, or None."""
    candidates: list[type[EchoError]] = [EchoError, *_all_subclasses(EchoError)]
    for cls in candidates:
        if cls.code == code and cls not in (ServerError, TaskFailed, TransferIncomplete):
            return cls
    return None


def _class_for_status(status: int) -> type[EchoError]:
    for cls, mapped in HTTP_STATUS.items():
        if mapped == status:
            return cls
    return ServerError if status >= 500 else EchoError


_BARE_STATUS: dict[int, type[EchoError]] = {
    401: Unauthenticated, 403: Forbidden, 404: NotFound, 429: TooManyRequests,
    503: Unavailable,
}


def _retry_after_s(headers: Mapping[str, str]) -> int:
    raw = headers.get("retry-after") or headers.get("Retry-After") or ""
    return int(raw) if raw.strip().isdigit() else 1


def error_from_response(
    status: int, body: bytes, headers: Mapping[str, str]
) -> EchoError:
    """The exception an error answer stands for.

    The server already wrote the message (a ``QuorumNotReached`` message names the
    workers), so classes whose constructors format one (``QuorumNotReached``,
    ``RateLimited``) are built through :class:`EchoError`'s constructor with the
    server's message and details; ``RateLimited.retry_after_s`` comes from Retry-After.
    """
    try:
        envelope: Any = json.loads(body) if body else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        envelope = None
    if not isinstance(envelope, dict):
        # Not our envelope (a proxy's page): only statuses whose meaning does not
        # depend on who said them map to a family; a 502 is not a corrupt chunk.
        text = body[:200].decode("utf-8", "replace").strip().splitlines()
        cls = _BARE_STATUS.get(status) or (ServerError if status >= 500 else ProtocolError)
        return _build(cls, f"HTTP {status}: {text[0] if text else 'no body'}", {}, headers)
    code = str(envelope.get("code") or "")
    message = str(envelope.get("message") or f"HTTP {status}")
    raw_details = envelope.get("details")
    details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
    cls = class_for_code(code) or _class_for_status(status)
    error = _build(cls, message, details, headers)
    if code and error.code != code:
        error.code = code  # an unknown code keeps its name; the class says its family
    return error


def _build(
    cls: type[EchoError], message: str, details: Mapping[str, Any], headers: Mapping[str, str]
) -> EchoError:
    error = cls.__new__(cls)
    EchoError.__init__(error, message, details=details)
    if isinstance(error, RateLimited):
        error.retry_after_s = _retry_after_s(headers)
        error.details.setdefault("retry_after_s", error.retry_after_s)
    return error


class TaskFailed(EchoError):
    """A server task (a recursive delete) ended in ``failed``; ``details["task"]`` is
    its last status. What it had done stays done; running it again continues."""

    code = "task_failed"


class TransferIncomplete(EchoError):
    """Some files of a tree transfer failed while the others went on; the result (with
    each failure) was still reported. Running the same command again retries them."""

    code = "incomplete"


__all__ += ["TaskFailed", "TransferIncomplete"]
