"""``echofs link create | ls | revoke``: download links that need no login (DESIGN §12).
A link serves the version that was current when it was made; its URL is printed once."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from client.commands.common import Decorator, parse_duration_s
from client.models_access import Link

if TYPE_CHECKING:
    from client.cli import Invocation

__all__ = ["register"]


def _line(link: Link) -> str:
    uses = f"{link.uses}/{link.max_uses}" if link.max_uses is not None else f"{link.uses}/-"
    return (f"{link.link_id}  {link.state:<8} uses {uses:<7} expires {link.expires_at}  "
            f"{link.path}")


def register(cli: click.Group, per_command: Decorator) -> click.Group:
    @cli.group()
    def link() -> None:
        """Download links: create (URL shown once), list, revoke."""

    @link.command()
    @click.argument("remote", metavar="BUCKET/PATH")
    @click.option("--expires", default="1d", show_default=True, metavar="DURATION",
                  help="Valid for this long: 3600, 15m, 12h, 7d.")
    @click.option("--uses", type=click.IntRange(min=1), metavar="N",
                  help="At most N downloads (HEAD does not count). Default: no limit.")
    @per_command
    def create(inv: Invocation, remote: str, expires: str, uses: int | None) -> None:
        """A link to the current version of a file; prints its URL (http://.../d/...)."""
        expires_in_s = parse_duration_s(expires)
        with inv.client() as client:
            made = client.create_link(remote, expires_in_s, uses)
        limit = f", {made.max_uses} use(s)" if made.max_uses is not None else ""
        inv.output.result(made.to_json(),
                          f"{made.download_url}\n(link {made.link_id}, expires "
                          f"{made.expires_at}{limit})")

    @link.command(name="ls")
    @click.option("--bucket", "-b", metavar="BUCKET",
                  help="Every link made in this bucket (you must own it).")
    @click.option("--all", "everyone", is_flag=True, help="Every link (admins only).")
    @per_command
    def ls(inv: Invocation, bucket: str | None, everyone: bool) -> None:
        """Your links, newest first (never their URLs)."""
        with inv.client() as client:
            found = client.links(bucket, everyone)
        inv.output.result({"links": [x.to_json() for x in found]},
                          "\n".join(_line(x) for x in found) or "no links")

    @link.command()
    @click.argument("link_id")
    @per_command
    def revoke(inv: Invocation, link_id: str) -> None:
        """Revoke a link at once (its URL then answers 404)."""
        with inv.client() as client:
            revoked = client.revoke_link(link_id)
        inv.output.result(revoked.to_json(), f"revoked link {revoked.link_id} "
                                             f"({revoked.path})")

    link.add_command(revoke, name="rm")
    return link
