"""Jinja filters: sizes, times, paths (pure functions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

__all__ = ["FILTERS", "human_bytes", "url_path"]


def human_bytes(value: Any) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def short_time(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value or "")[:19].replace("T", " ")


def url_path(value: str) -> str:
    """A bucket path for a URL: each segment percent-encoded, the slashes kept."""
    return quote(value, safe="/")


def percent(used: Any, total: Any) -> int:
    if not total:
        return 0
    return max(0, min(100, int(100 * float(used or 0) / float(total))))


FILTERS = {"bytes": human_bytes, "time": short_time, "urlpath": url_path, "percent": percent}
