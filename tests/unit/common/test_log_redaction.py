"""A download link's token never reaches a log line (DESIGN §12): the JSON formatter
redacts ``/d/<token>`` in messages, extra fields and tracebacks."""

from __future__ import annotations

import logging
import secrets
import sys

from common.logging import JsonFormatter, redact_links

TOKEN = secrets.token_urlsafe(32)


def _line(msg: str, *args: object, exc: bool = False, **extra: object) -> str:
    record = logging.makeLogRecord({"name": "t", "levelno": logging.INFO, "levelname": "INFO",
                                    "msg": msg, "args": args, **extra})
    if exc:
        try:
            raise ValueError(f"while serving /d/{TOKEN}")
        except ValueError:
            record.exc_info = sys.exc_info()
    return JsonFormatter("test").format(record)


def test_link_tokens_are_redacted_in_messages_fields_and_tracebacks() -> None:
    lines = [
        _line("GET %s", f"/d/{TOKEN}"),
        _line("fetch", url=f"http://127.0.0.1:8080/d/{TOKEN}?x=1"),
        _line("failed", exc=True),
    ]
    for line in lines:
        assert TOKEN not in line
        assert "/d/<redacted>" in line


def test_other_text_is_left_alone() -> None:
    for text in ("GET /d/{token} -> 200", "/api/v1/fs/b/d/x", "no link here", "/d/"):
        assert redact_links(text) == text
    assert redact_links(f"a /d/{TOKEN} b /d/{TOKEN[:20]}") == "a /d/<redacted> b /d/<redacted>"
