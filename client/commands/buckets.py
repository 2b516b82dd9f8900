"""``echofs bucket ls | info | create | set | rm``: buckets and their settings
(versioning, retention). Later sub-commands (``share``, ``quota``, DESIGN §12) attach to
the same group: ``register`` returns it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from client.commands.common import Decorator, size_text
from client.models import BucketEntry
from client.models_ops import BucketRemoval
from common.errors import BucketNotEmpty, InvalidInput

if TYPE_CHECKING:
    from client.cli import Invocation

__all__ = ["register"]


def _retention(value: str | None) -> int | None:
    """``none`` (keep everything) or a positive integer."""
    if value is None or value.strip().lower() in ("none", "off", "unlimited"):
        return None
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput(f"not a number or 'none': {value!r}") from None
    return number


def _keep(b: BucketEntry) -> str:
    parts = ([f"{b.keep_versions} versions"] if b.keep_versions else []) + (
        [f"{b.keep_days} days"] if b.keep_days else [])
    return "keep " + " / ".join(parts) if parts else "keep all"


def _bucket_line(b: BucketEntry) -> str:
    versioning = f"versioned ({_keep(b)})" if b.versioning else "unversioned"
    return (f"{b.name:<32} {b.permission:<5} {size_text(b.used_bytes):>10} {b.files:>8} files"
            f"  {versioning}{'  home' if b.home else ''}")


def _details(b: BucketEntry) -> str:
    return "\n".join(f"{k + ':':<14} {v}" for k, v in b.to_json().items())


def _removal_text(r: BucketRemoval) -> str:
    if r.task is None:
        return f"deleted bucket {r.name}"
    if r.task.finished:
        return f"deleted bucket {r.name} ({r.task.done} files)"
    return f"deleting bucket {r.name} in the background: task {r.task.task_id}"


_keep_versions = click.option("--keep-versions", metavar="N|none",
                              help="Versioned: keep at most N versions of each file.")
_keep_days = click.option("--keep-days", metavar="N|none",
                          help="Versioned: drop non-current versions older than N days.")


def register(cli: click.Group, per_command: Decorator) -> click.Group:
    @cli.group()
    def bucket() -> None:
        """Buckets: list, inspect, create, change settings, delete."""

    @bucket.command(name="ls")
    @per_command
    def ls(inv: Invocation) -> None:
        """The buckets you can reach, with permission, usage and versioning."""
        with inv.client() as client:
            found = client.buckets()
        inv.output.result({"buckets": [b.to_json() for b in found]},
                          "\n".join(_bucket_line(b) for b in found))

    @bucket.command()
    @click.argument("name")
    @per_command
    def info(inv: Invocation, name: str) -> None:
        """One bucket's usage and settings."""
        with inv.client() as client:
            found = client.bucket(name)
        inv.output.result(found.to_json(), _details(found))

    @bucket.command()
    @click.argument("name")
    @click.option("--versioning/--no-versioning", default=False, show_default=True,
                  help="Keep every version of every file (and delete markers).")
    @_keep_versions
    @_keep_days
    @per_command
    def create(inv: Invocation, name: str, versioning: bool, keep_versions: str | None,
               keep_days: str | None) -> None:
        """Create a bucket; its name is unique in the cluster, 3 to 63 characters of
        a-z, 0-9, dot and hyphen."""
        settings: dict[str, Any] = {"versioning": versioning}
        if keep_versions is not None:
            settings["keep_versions"] = _retention(keep_versions)
        if keep_days is not None:
            settings["keep_days"] = _retention(keep_days)
        with inv.client() as client:
            made = client.create_bucket(name, **settings)
        inv.output.result(made.to_json(), f"created bucket {made.name} "
                                          f"({'versioned' if made.versioning else 'unversioned'})")

    @bucket.command(name="set")
    @click.argument("name")
    @click.option("--versioning", type=click.Choice(["on", "off"]),
                  help="Turn versioning on or off (off keeps the versions already kept).")
    @_keep_versions
    @_keep_days
    @click.option("--group", metavar="GROUP|none",
                  help="Charge the bucket to a group you belong to (its usage then counts "
                       "toward the group's quota); none: to no group.")
    @per_command
    def set_(inv: Invocation, name: str, versioning: str | None, keep_versions: str | None,
             keep_days: str | None, group: str | None) -> None:
        """Change a bucket's versioning, retention or group (only the options given)."""
        settings: dict[str, Any] = {}
        if group is not None:
            settings["group"] = None if group.lower() == "none" else group
        if versioning is not None:
            settings["versioning"] = versioning == "on"
        if keep_versions is not None:
            settings["keep_versions"] = _retention(keep_versions)
        if keep_days is not None:
            settings["keep_days"] = _retention(keep_days)
        if not settings:
            raise click.UsageError("nothing to change: give --versioning, --keep-versions, "
                                   "--keep-days or --group")
        with inv.client() as client:
            changed = client.update_bucket(name, **settings)
        inv.output.result(changed.to_json(), _bucket_line(changed))

    @bucket.command(name="rm")
    @click.argument("name")
    @click.option("--recursive", "-r", is_flag=True,
                  help="Also when it holds files: deletes everything in it (a server task).")
    @click.option("--no-wait", is_flag=True, help="With -r: return the task id at once.")
    @per_command
    def rm(inv: Invocation, name: str, recursive: bool, no_wait: bool) -> None:
        """Delete a bucket; one that holds files needs --recursive (else exit 7)."""
        with inv.client() as client:
            try:
                removal = client.delete_bucket(name, recursive=recursive, wait=not no_wait,
                                               progress=inv.output.progress("files"))
            except BucketNotEmpty:
                raise BucketNotEmpty(f"bucket {name!r} is not empty; add --recursive to "
                                     "delete it with everything in it") from None
        inv.output.result(removal.to_json(), _removal_text(removal))

    return bucket
