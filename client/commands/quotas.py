"""``echofs quota show | set`` (also ``echofs bucket quota ...``): usage against quotas
(DESIGN §12). A user's quota covers every bucket the user owns and is set by an admin;
a group's covers the buckets charged to the group (``bucket set --group``), also set by
an admin; a bucket's quota is set by its owner. Uploads beyond a quota fail with exit 10."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from client.commands.common import Decorator, parse_limit, size_text
from client.models import BucketEntry
from client.models_access import QuotaUsage
from client.protocol_access import UNSET

if TYPE_CHECKING:
    from client.cli import Invocation

__all__ = ["register"]


def _of(used: int, quota: int | None, text: Any) -> str:
    return f"{text(used)} of {text(quota) if quota is not None else 'unlimited'}"


def _line(u: QuotaUsage) -> str:
    return (f"{u.scope:<6} {u.name:<32} {_of(u.used_bytes, u.quota_bytes, size_text):>28}  "
            f"{_of(u.files, u.quota_files, str)} files")


def _bucket_usage(b: BucketEntry) -> QuotaUsage:
    return QuotaUsage("bucket", b.name, b.used_bytes, b.files, b.quota_bytes, b.quota_files)


def register(cli: click.Group, per_command: Decorator) -> click.Group:
    @cli.group()
    def quota() -> None:
        """Quotas: your usage against them; set them (a bucket's owner, or an admin)."""

    @quota.command()
    @click.argument("buckets", nargs=-1, metavar="[BUCKET]...")
    @per_command
    def show(inv: Invocation, buckets: tuple[str, ...]) -> None:
        """Your usage and quotas, and those of BUCKETs (default: every bucket you own;
        for an admin, who holds owner rights everywhere, every bucket)."""
        with inv.client() as client:
            mine = client.usage()
            if buckets:
                found = tuple(client.bucket(name) for name in buckets)
            else:
                found = tuple(b for b in client.buckets() if b.permission == "owner")
        usages = [_bucket_usage(b) for b in found]
        inv.output.result({"user": mine.to_json(), "buckets": [u.to_json() for u in usages]},
                          "\n".join(_line(u) for u in (mine, *usages)))

    @quota.command(name="set")
    @click.option("--user", "-u", metavar="USERNAME",
                  help="A user's quota over all its buckets (admins only).")
    @click.option("--group", "-g", metavar="GROUP",
                  help="A group's quota over the buckets charged to it (admins only).")
    @click.option("--bucket", "-b", metavar="BUCKET", help="One bucket's quota (its owner).")
    @click.option("--bytes", "size_limit", metavar="SIZE|none",
                  help="At most this much stored: 500M, 10G, 1T; none: no limit.")
    @click.option("--files", "file_limit", metavar="N|none",
                  help="At most N files; none: no limit.")
    @per_command
    def set_(inv: Invocation, user: str | None, group: str | None, bucket: str | None,
             size_limit: str | None, file_limit: str | None) -> None:
        """Set the byte and/or file quota of --user, --group or --bucket (the others
        stay)."""
        if [user, group, bucket].count(None) != 2:
            raise click.UsageError("name exactly one of --user USERNAME, --group GROUP or "
                                   "--bucket BUCKET")
        if size_limit is None and file_limit is None:
            raise click.UsageError("nothing to change: give --bytes and/or --files")
        quota_bytes = parse_limit(size_limit, sizes=True) if size_limit is not None else UNSET
        quota_files = parse_limit(file_limit, sizes=False) if file_limit is not None else UNSET
        with inv.client() as client:
            if user is not None:
                changed = client.set_user_quota(user, quota_bytes, quota_files)
            elif group is not None:
                changed = client.set_group_quota(group, quota_bytes, quota_files)
            else:
                changed = client.set_bucket_quota(bucket or "", quota_bytes, quota_files)
        inv.output.result(changed.to_json(), _line(changed))

    return quota
