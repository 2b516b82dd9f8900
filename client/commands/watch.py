"""``echofs watch [BUCKET[/PREFIX]]``: follow the change feed (DESIGN §13), printing each
event as it arrives — a line for people, or with ``--json`` one JSON object per line
(the SDK's ``Event``). Ctrl-C ends it with exit 0 and says where to resume
(``--after``, the id of the last event printed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from client.commands.common import Decorator, size_text
from client.models_access import Event

if TYPE_CHECKING:
    from client.cli import Invocation

__all__ = ["register"]


def _line(e: Event) -> str:
    text = f"{e.id:>8}  {e.at}  {e.type:<15} {e.bucket}/{e.path}"
    if e.from_path is not None:
        text += f"  (from {e.from_bucket or e.bucket}/{e.from_path})"
    if e.size is not None:
        text += f"  {size_text(e.size)}"
    return f"{text}  by {e.actor}"


def _where(target: str | None) -> tuple[str | None, str]:
    """``bucket/prefix`` → (bucket, prefix); the prefix is kept as typed (a trailing
    '/' means "inside this directory" only)."""
    if not target:
        return None, ""
    bucket, _, prefix = target.lstrip("/").partition("/")
    return bucket or None, prefix


def register(cli: click.Group, per_command: Decorator) -> None:
    @cli.command()
    @click.argument("target", required=False, metavar="[BUCKET[/PREFIX]]")
    @click.option("--after", type=click.IntRange(min=0), metavar="ID",
                  help="Start after this event id (resume). Default: from now on.")
    @click.option("--types", metavar="TYPE[,TYPE...]",
                  help="Only these event types, e.g. file.created,file.deleted.")
    @click.option("--count", type=click.IntRange(min=1), metavar="N",
                  help="Stop after N events.")
    @per_command
    def watch(inv: Invocation, target: str | None, after: int | None, types: str | None,
              count: int | None) -> None:
        """Print changes as they happen, in every bucket you can read or in one
        bucket (below PREFIX). Ctrl-C stops (exit 0)."""
        bucket, prefix = _where(target)
        wanted = tuple(t.strip() for t in (types or "").split(",") if t.strip())
        last = after
        seen = 0
        with inv.client() as client:
            try:
                for event in client.watch(bucket, prefix, after=after, types=wanted):
                    inv.output.result(event.to_json(), _line(event))
                    last = event.id
                    seen += 1
                    if count is not None and seen >= count:
                        break
            except KeyboardInterrupt:
                resume = f"; resume with --after {last}" if last is not None else ""
                inv.output.note(f"stopped after {seen} event(s){resume}")
