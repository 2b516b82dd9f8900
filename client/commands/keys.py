"""``echofs key create | ls | revoke`` (``rm`` is the same as ``revoke``): API keys for
scripts and S3 tools (DESIGN §12). The secret and token are printed once, at creation;
the server cannot show them again."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from client.commands.common import Decorator, parse_duration_s
from client.models_access import ApiKey
from client.protocol_access import KEY_PERMISSIONS

if TYPE_CHECKING:
    from client.cli import Invocation

__all__ = ["register"]


def _line(k: ApiKey) -> str:
    scope = ",".join(k.buckets) if k.buckets is not None else "all buckets"
    expires = f"expires {k.expires_at}" if k.expires_at else "no expiry"
    return f"{k.key_id}  {k.name:<24} {k.permission:<5} {k.state:<8} {scope}  {expires}"


def register(cli: click.Group, per_command: Decorator) -> click.Group:
    @cli.group()
    def key() -> None:
        """API keys: create (secret shown once), list, revoke."""

    @key.command()
    @click.argument("name")
    @click.option("--permission", "-p", type=click.Choice(KEY_PERMISSIONS), default="rw",
                  show_default=True, help="ro: read and list; rw: your rights; admin: "
                  "the admin role (admins only).")
    @click.option("--bucket", "-b", "buckets", multiple=True, metavar="BUCKET",
                  help="Only these buckets (repeat for several). Default: all yours.")
    @click.option("--expires", metavar="DURATION",
                  help="Valid for this long: 3600, 15m, 12h, 30d. Default: no expiry.")
    @per_command
    def create(inv: Invocation, name: str, permission: str, buckets: tuple[str, ...],
               expires: str | None) -> None:
        """Create an API key (needs a password login, not a key). Its token and secret
        are printed this once: `echofs login --api-key-stdin` takes the token."""
        expires_in_s = parse_duration_s(expires) if expires is not None else None
        with inv.client() as client:
            made = client.create_key(name, permission, list(buckets) or None, expires_in_s)
        inv.output.result(made.to_json(), "\n".join([
            _line(made.key),
            f"token:      {made.token}",
            f"key id:     {made.key.key_id}   (S3 access key)",
            f"secret:     {made.secret}   (S3 secret key)",
            "keep them now: they are not shown again"]))

    @key.command(name="ls")
    @per_command
    def ls(inv: Invocation) -> None:
        """Your API keys (never their secrets), newest first, revoked ones included."""
        with inv.client() as client:
            found = client.keys()
        inv.output.result({"keys": [k.to_json() for k in found]},
                          "\n".join(_line(k) for k in found) or "no API keys")

    @key.command()
    @click.argument("key_id")
    @per_command
    def revoke(inv: Invocation, key_id: str) -> None:
        """Revoke the key KEY_ID at once, on every master."""
        with inv.client() as client:
            revoked = client.revoke_key(key_id)
        inv.output.result(revoked.to_json(), f"revoked {revoked.key_id} ({revoked.name})")

    key.add_command(revoke, name="rm")
    return key
