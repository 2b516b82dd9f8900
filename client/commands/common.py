"""What several command modules share: sizes for people, the target of an upload."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from client import addressing

if TYPE_CHECKING:
    from client.sync_client import Client

__all__ = ["Decorator", "into", "size_text"]

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def size_text(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def into(remote: str, name: str) -> str:
    """``remote`` itself, or ``remote/name`` when it ends in '/' or is a bare bucket:
    ``put x.bin b/dir/`` and ``mv b/a.txt b/old/`` keep the name."""
    where = addressing.parse(remote, file=False)
    if remote.rstrip().endswith("/") or not where.path:
        return addressing.normalize(f"{where}/{name}")
    return str(where)


def home_dir(client: Client, name: str = "") -> str:
    """The caller's home bucket (``name`` inside it), where a bare ``put`` goes."""
    home = client.profile().home_bucket
    return f"{home}/{name}" if name else f"{home}/"


__all__ += ["home_dir"]
