"""JSON logs, one object per line, with the current request id on every line.

The request id lives in a ContextVar, so every log call made while handling one HTTP
request or RPC (including in tasks it spawns, which copy the context) carries it
without being passed around.

A download link's URL (``/d/<token>``) is a credential: wherever one would reach a log
line (a message, an extra field, a traceback), the token is replaced by
``<redacted>`` before the line is written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar

__all__ = ["REQUEST_ID", "JsonFormatter", "new_request_id", "redact_links", "setup_logging"]

REQUEST_ID: ContextVar[str] = ContextVar("echofs_request_id", default="-")

_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


# A link path with anything token-shaped after it (a real token has 43 characters; a
# shorter run is redacted too, in case it is a mistyped or cut one).
_LINK_PATH = re.compile(r"/d/[A-Za-z0-9_%-]{8,}")


def redact_links(text: str) -> str:
    """``text`` with every ``/d/<token>`` path's token replaced by ``<redacted>``."""
    return _LINK_PATH.sub("/d/<redacted>", text) if "/d/" in text else text


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "request_id": REQUEST_ID.get(),
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return redact_links(json.dumps(entry, default=str))


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's access log duplicates our own request log line.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
