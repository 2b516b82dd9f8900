"""What several command modules share: sizes for people, the target of an upload,
durations, limits and share grantees as typed on the command line."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from client import addressing
from common.errors import InvalidInput

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


_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


def parse_duration_s(text: str) -> int:
    """``"90"``, ``"90s"``, ``"15m"``, ``"12h"``, ``"7d"``, ``"2w"`` → seconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw]?)\s*", text.lower())
    if not match or int(match.group(1)) <= 0:
        raise InvalidInput(f"not a duration: {text!r} (write e.g. 3600, 15m, 12h, 7d)")
    return int(match.group(1)) * _DURATION_UNITS[match.group(2)]


def parse_limit(text: str, *, sizes: bool) -> int | None:
    """A quota: ``none`` (no limit) or a count; with ``sizes``, bytes with an optional
    binary unit (``500M``, ``10GiB``, ``1T``)."""
    if text.strip().lower() in ("none", "off", "unlimited"):
        return None
    pattern = r"\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*" if sizes else r"\s*(\d+)\s*()"
    match = re.fullmatch(pattern, text.lower())
    if not match:
        example = "500M, 10G or none" if sizes else "a whole number or none"
        raise InvalidInput(f"not a limit: {text!r} (write {example})")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])


def grantee(user: str | None, group: str | None) -> tuple[str, str]:
    """The ``--user`` or ``--group`` of a share command: exactly one of them."""
    if (user is None) == (group is None):
        raise click.UsageError("name exactly one of --user USERNAME or --group GROUP")
    return ("user", user) if user is not None else ("group", group or "")


__all__ += ["grantee", "parse_duration_s", "parse_limit"]
