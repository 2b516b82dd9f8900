"""``echofs versions`` and ``echofs restore``: a file's history in a versioned bucket."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from client.commands.common import Decorator, size_text
from client.models_ops import VersionEntry

if TYPE_CHECKING:
    from client.cli import Invocation

__all__ = ["register"]


def _version_line(v: VersionEntry) -> str:
    mark = "*" if v.current else " "
    what = "(delete marker)" if v.deleted else f"{size_text(v.size):>10}  {v.etag[:16]}…"
    return f"{mark} {v.version_id}  {v.modified[:19]:<19}  {what}"


def register(cli: click.Group, per_command: Decorator) -> None:
    @cli.command()
    @click.argument("remote")
    @per_command
    def versions(inv: Invocation, remote: str) -> None:
        """The kept versions of a file, newest first (* marks the current one). Read an
        older one with `echofs get --version-id`, bring it back with `echofs restore`."""
        with inv.client() as client:
            found = client.versions(remote)
        inv.output.result({"versions": [v.to_json() for v in found]},
                          "\n".join(_version_line(v) for v in found))

    @cli.command()
    @click.argument("remote")
    @click.argument("version_id")
    @per_command
    def restore(inv: Invocation, remote: str, version_id: str) -> None:
        """Make VERSION_ID's content current again (as a new version; nothing is lost)."""
        with inv.client() as client:
            result = client.restore(remote, version_id)
        inv.output.result(result.to_json(), f"restored {result.bucket}/{result.path} from "
                                            f"{version_id}: new version {result.version_id}")
