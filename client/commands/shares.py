"""``echofs share add | ls | rm`` (also ``echofs bucket share ...``): who else may
read or change a bucket (DESIGN §12), a user or a group, with ro, rw or rwd."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from client.commands.common import Decorator, grantee
from client.models_access import Share
from client.protocol_access import SHARE_PERMISSIONS

if TYPE_CHECKING:
    from client.cli import Invocation

__all__ = ["register"]


def _line(s: Share) -> str:
    by = f"  (by {s.granted_by})" if s.granted_by else ""
    return f"{s.grantee_kind:<5} {s.grantee:<32} {s.permission:<4}{by}"


_user = click.option("--user", "-u", metavar="USERNAME", help="Share with this user.")
_group = click.option("--group", "-g", metavar="GROUP", help="Share with this group.")


def register(cli: click.Group, per_command: Decorator) -> click.Group:
    @cli.group()
    def share() -> None:
        """Bucket shares: give a user or a group ro, rw or rwd on a bucket you own."""

    @share.command(name="add")
    @click.argument("bucket")
    @click.argument("permission", type=click.Choice(SHARE_PERMISSIONS))
    @_user
    @_group
    @per_command
    def add(inv: Invocation, bucket: str, permission: str, user: str | None,
            group: str | None) -> None:
        """Share BUCKET with --user or --group: ro (read, list), rw (+ write), rwd
        (+ delete, move out). Run again to change the permission."""
        kind, name = grantee(user, group)
        with inv.client() as client:
            made = client.share(bucket, kind, name, permission)
        inv.output.result(made.to_json(), f"{bucket}: shared with {kind} {name} "
                                          f"({made.permission})")

    @share.command(name="ls")
    @click.argument("bucket")
    @per_command
    def ls(inv: Invocation, bucket: str) -> None:
        """The shares of BUCKET."""
        with inv.client() as client:
            found = client.shares(bucket)
        inv.output.result({"bucket": bucket, "shares": [s.to_json() for s in found]},
                          "\n".join(_line(s) for s in found) or f"{bucket}: not shared")

    @share.command(name="rm")
    @click.argument("bucket")
    @_user
    @_group
    @per_command
    def rm(inv: Invocation, bucket: str, user: str | None, group: str | None) -> None:
        """Stop sharing BUCKET with --user or --group."""
        kind, name = grantee(user, group)
        with inv.client() as client:
            removed = client.unshare(bucket, kind, name)
        inv.output.result(removed.to_json(), f"{bucket}: no longer shared with {kind} {name}")

    return share
