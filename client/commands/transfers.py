"""``echofs put`` and ``echofs get``: one file, or with ``-r`` a directory tree."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from client import addressing
from client.commands.common import Decorator, home_dir, into, size_text
from client.errors import TransferIncomplete
from client.models_ops import TreeResult
from client.throttle import Throttle, parse_rate
from client.trees import TreeOptions

if TYPE_CHECKING:
    from client.cli import Invocation

__all__ = ["register"]


def _throttle(bwlimit: str | None) -> Throttle | None:
    return Throttle(parse_rate(bwlimit)) if bwlimit else None


def _tree_report(inv: Invocation, result: TreeResult) -> None:
    """Print the tree's result; then, if some files failed, fail with exit 15 (the
    result, with every failure, has been printed)."""
    verb = "uploaded" if result.direction == "put" else "downloaded"
    lines = [f"{verb} {result.source} -> {result.destination}: {result.files_total} files "
             f"({size_text(result.bytes_total)}); {result.files_transferred} transferred "
             f"({size_text(result.bytes_moved)} sent over the network), "
             f"{result.files_skipped} unchanged (same SHA-256, skipped)"
             + (f", {result.dirs_created} directories created" if result.dirs_created else "")]
    lines += [f"FAILED {f.path}: {f.message} [{f.code}]" for f in result.failed]
    inv.output.result(result.to_json(), "\n".join(lines))
    if result.failed:
        first = result.failed[0]
        raise TransferIncomplete(
            f"{len(result.failed)} of {result.files_total} files failed (first: {first.path}: "
            f"{first.message}); run the command again to retry them",
            details={"failed": [f.to_json() for f in result.failed]})


_parallel = click.option("--parallel", "-p", default=4, show_default=True,
                         type=click.IntRange(1, 64),
                         help="Parts (put) or ranges (get) of one file in flight at once.")
_transfers = click.option("--transfers", "-t", default=4, show_default=True,
                          type=click.IntRange(1, 64),
                          help="With -r: files transferred at once (memory: about "
                               "transfers x parallel x chunk size).")
_bwlimit = click.option("--bwlimit", metavar="RATE",
                        help="Bandwidth limit for the whole run, e.g. 500K, 8M, 1G (per s).")
_recursive = click.option("--recursive", "-r", is_flag=True,
                          help="A directory tree: its contents go into the target; files "
                               "already there with the same SHA-256 are skipped.")


def register(cli: click.Group, per_command: Decorator) -> None:
    @cli.command()
    @click.argument("local", type=click.Path(path_type=Path))
    @click.argument("remote", required=False)
    @_recursive
    @_parallel
    @_transfers
    @click.option("--chunk-size", type=click.IntRange(64 * 1024, 64 * 1024 * 1024),
                  help="Bytes per part of a new upload (default 4 MiB).")
    @click.option("--consistency", type=click.Choice(["auto", "strong", "available"]),
                  default="auto", show_default=True)
    @_bwlimit
    @per_command
    def put(inv: Invocation, local: Path, remote: str | None, recursive: bool, parallel: int,
            transfers: int, chunk_size: int | None, consistency: str,
            bwlimit: str | None) -> None:
        """Upload LOCAL to REMOTE: bucket/path, or bucket/dir/ or a bare bucket for
        LOCAL's name there (default: your home bucket). Run again after an interruption
        to resume: only the parts the cluster lacks are sent.

        With -r, LOCAL is a directory whose contents go into REMOTE (bucket or
        bucket/dir; default: your home bucket/LOCAL's name), --transfers files at a time."""
        if local.is_dir() and not recursive:
            raise click.UsageError(f"{local} is a directory; use put -r")
        throttle = _throttle(bwlimit)
        with inv.client() as client:
            if recursive:
                target = remote or home_dir(client, local.resolve().name)
                options = TreeOptions(transfers, parallel, chunk_size, consistency, throttle)
                tree = client.put_tree(local, target, options=options,
                                       progress=inv.output.progress())
                _tree_report(inv, tree)
                return
            target = into(remote or home_dir(client), local.name)
            result = client.put(local, target, parallel=parallel,
                                progress=inv.output.progress(), chunk_size=chunk_size,
                                consistency=consistency, throttle=throttle)
        if result.resumed:
            inv.output.note(f"resumed session {result.session_id}: "
                            f"{result.chunks_already_received} of {result.chunks_total} "
                            "parts were already on the server")
        r = result.receipt
        inv.output.result(result.to_json(), (
            f"uploaded {local} -> {r.bucket}/{r.path} ({size_text(r.size)}, "
            f"sha256 {r.sha256[:16]}…, mode {r.mode}, {r.replicas_acked}/{r.replicas_target} "
            f"replicas); sent {result.chunks_sent} of {result.chunks_total} parts"
            f", {result.chunks_referenced} already in the cluster"
            + (", resumed" if result.resumed else "")))

    @cli.command()
    @click.argument("remote")
    @click.argument("local", required=False, type=click.Path(path_type=Path))
    @_recursive
    @_parallel
    @_transfers
    @click.option("--version-id", metavar="ID",
                  help="An older version (see `echofs versions`) instead of the current.")
    @_bwlimit
    @per_command
    def get(inv: Invocation, remote: str, local: Path | None, recursive: bool, parallel: int,
            transfers: int, version_id: str | None, bwlimit: str | None) -> None:
        """Download REMOTE to LOCAL (default: its name, here), verifying its SHA-256.
        An interrupted download resumes from LOCAL.part.

        With -r, REMOTE is a directory (or a bucket) whose contents go into the local
        directory LOCAL (default: REMOTE's name, here)."""
        throttle = _throttle(bwlimit)
        if recursive:
            if version_id:
                raise click.UsageError("--version-id reads one file; not with -r")
            where = addressing.parse(remote, file=False)
            root = local if local is not None else Path(where.name)
            options = TreeOptions(transfers, parallel, throttle=throttle)
            with inv.client() as client:
                tree = client.get_tree(remote, root, options=options,
                                       progress=inv.output.progress())
            _tree_report(inv, tree)
            return
        dest = local if local is not None else Path(addressing.parse(remote).name)
        with inv.client() as client:
            result = client.get(remote, dest, parallel=parallel, progress=inv.output.progress(),
                                version_id=version_id, throttle=throttle)
        inv.output.result(result.to_json(), (
            f"downloaded {result.path} -> {result.destination} ({size_text(result.size)}, "
            f"sha256 verified" + (", resumed" if result.resumed else "") + ")"))
