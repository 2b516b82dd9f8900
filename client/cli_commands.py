"""The commands of ``echofs``; :func:`register` adds them to the group in ``client.cli``.

Each one: read arguments, call one SDK method, render its typed result (text, or its
``to_json()`` with ``--json``). Nothing here talks HTTP.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from client import addressing
from client import config as config_file
from common.errors import InvalidInput, Unavailable

if TYPE_CHECKING:
    from client.cli import Invocation

__all__ = ["register"]

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def _password(password_stdin: bool) -> str:
    if password_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, err=True))


def register(cli: click.Group, per_command: Decorator) -> None:
    @cli.command()
    @click.argument("username", required=False)
    @click.option("--password-stdin", is_flag=True,
                  help="Read the password from the first line of stdin.")
    @per_command
    def login(inv: Invocation, username: str | None, password_stdin: bool) -> None:
        """Log in and store the token in the config file (mode 0600)."""
        config = inv.config()
        name = username or config.username
        if not name:
            name = str(click.prompt("Username", err=True))
        password = _password(password_stdin)
        if not password:
            raise InvalidInput("empty password")
        with inv.client() as client:
            result = client.login(name, password)
        path = config_file.save(config.with_login(result.token, result.username))
        inv.output.result({**result.to_json(), "config": str(path), "urls": list(config.urls)},
                          f"logged in as {result.username} ({', '.join(config.urls)}); "
                          f"token saved in {path}")

    @cli.command()
    @per_command
    def logout(inv: Invocation) -> None:
        """Forget the stored token."""
        config = inv.config()
        path = config_file.save(config_file.load({**inv.environ, "ECHOFS_TOKEN": ""})
                                .with_login(None, config.username))
        inv.output.result({"logged_out": True, "config": str(path)}, "logged out")

    @cli.command(name="ls")
    @click.argument("remote", required=False, default="")
    @per_command
    def ls(inv: Invocation, remote: str) -> None:
        """List the directory REMOTE (bucket or bucket/dir); with no REMOTE, your buckets."""
        with inv.client() as client:
            if not remote.strip(" /"):
                buckets = client.buckets()
                lines = [f"{_size(b.used_bytes):>10}  {b.files:>8} files  {b.permission:<5}  "
                         f"{b.name}" for b in buckets]
                inv.output.result({"buckets": [b.to_json() for b in buckets]}, "\n".join(lines))
                return
            entries = client.ls(remote)
        lines = [f"{'-' if e.type == 'dir' else _size(e.size):>10}  {e.modified[:19]:<19}  "
                 f"{e.name}{'/' if e.type == 'dir' else ''}" for e in entries]
        inv.output.result({"entries": [e.to_json() for e in entries]}, "\n".join(lines))

    @cli.command()
    @click.argument("local", type=click.Path(path_type=Path, dir_okay=False))
    @click.argument("remote", required=False)
    @click.option("--parallel", "-p", default=4, show_default=True,
                  type=click.IntRange(1, 64), help="Parts in flight at once.")
    @click.option("--chunk-size", type=click.IntRange(64 * 1024, 64 * 1024 * 1024),
                  help="Bytes per part of a new upload (default 4 MiB).")
    @click.option("--consistency", type=click.Choice(["auto", "strong", "available"]),
                  default="auto", show_default=True)
    @per_command
    def put(inv: Invocation, local: Path, remote: str | None, parallel: int,
            chunk_size: int | None, consistency: str) -> None:
        """Upload LOCAL to REMOTE: bucket/path, or bucket/dir/ or a bare bucket for
        LOCAL's name there (default: your home bucket). Run again after an interruption
        to resume: only the parts the cluster lacks are sent."""
        with inv.client() as client:
            if not remote:
                remote = f"{client.profile().get('home_bucket', '')}/"
            where = addressing.parse(remote, file=False)
            target = str(where)
            if remote.rstrip().endswith("/") or not where.path:
                target = addressing.normalize(f"{where}/{local.name}")
            result = client.put(local, target, parallel=parallel,
                                progress=inv.output.progress(), chunk_size=chunk_size,
                                consistency=consistency)
        if result.resumed:
            inv.output.note(f"resumed session {result.session_id}: "
                            f"{result.chunks_already_received} of {result.chunks_total} "
                            "parts were already on the server")
        r = result.receipt
        inv.output.result(result.to_json(), (
            f"uploaded {local} -> {r.bucket}/{r.path} ({_size(r.size)}, sha256 {r.sha256[:16]}…, "
            f"mode {r.mode}, {r.replicas_acked}/{r.replicas_target} replicas); "
            f"sent {result.chunks_sent} of {result.chunks_total} parts"
            f", {result.chunks_referenced} already in the cluster"
            + (", resumed" if result.resumed else "")))

    @cli.command()
    @click.argument("remote")
    @click.argument("local", required=False, type=click.Path(path_type=Path))
    @click.option("--parallel", "-p", default=4, show_default=True,
                  type=click.IntRange(1, 64), help="Ranges in flight at once.")
    @per_command
    def get(inv: Invocation, remote: str, local: Path | None, parallel: int) -> None:
        """Download REMOTE to LOCAL (default: its name, here), verifying its SHA-256.
        An interrupted download resumes from LOCAL.part."""
        dest = local if local is not None else Path(addressing.parse(remote).name)
        with inv.client() as client:
            result = client.get(remote, dest, parallel=parallel, progress=inv.output.progress())
        inv.output.result(result.to_json(), (
            f"downloaded {result.path} -> {result.destination} ({_size(result.size)}, "
            f"sha256 verified" + (", resumed" if result.resumed else "") + ")"))

    @cli.command()
    @click.argument("remotes", nargs=-1, required=True)
    @per_command
    def rm(inv: Invocation, remotes: tuple[str, ...]) -> None:
        """Delete files (bucket/path each)."""
        deleted = []
        with inv.client() as client:
            for remote in remotes:
                deleted.append(client.delete(remote))
        inv.output.result({"deleted": deleted},
                          "\n".join(f"deleted {d.get('bucket', '')}/{d.get('path', '')}"
                                    for d in deleted))

    @cli.command()
    @click.argument("remote")
    @per_command
    def stat(inv: Invocation, remote: str) -> None:
        """Size, SHA-256, consistency mode, chunks and replicas of a file."""
        with inv.client() as client:
            info = client.info(remote)
        healthy = sum(1 for c in info.chunks for _, s in c.replicas if s == "live")
        lines = [f"path:        {info.bucket}/{info.path}", f"file_id:     {info.file_id}",
                 f"size:        {info.size} ({_size(info.size)})", f"sha256:      {info.sha256}",
                 f"mode:        {info.mode}", f"version_id:  {info.version_id}",
                 f"updated_at:  {info.updated_at}",
                 f"chunks:      {len(info.chunks)} of {_size(info.chunk_size)}, "
                 f"{healthy} live replicas"]
        inv.output.result(info.to_json(), "\n".join(lines))

    @cli.command()
    @per_command
    def status(inv: Invocation) -> None:
        """Cluster health, and the workers when logged in."""
        config = inv.config()
        with inv.client() as client:
            health = client.health()
            workers = client.workers() if config.token else ()
        lines = [f"master {health.master_url}: {health.status} (postgres {health.postgres}, "
                 f"redis {health.redis}, workers {health.workers_healthy}/"
                 f"{health.workers_total} healthy)"]
        for w in workers:
            rtt = f"{w.rtt_ms:.1f} ms" if w.rtt_ms is not None else "-"
            lines.append(f"  {w.worker_id:<16} {w.state:<8} {w.address:<22} rtt {rtt:>9}  "
                         f"used {_size(w.used_bytes)} of {_size(w.capacity_bytes)}, "
                         f"{w.chunk_count} chunks")
        inv.output.result({"health": health.to_json(), "workers": [w.to_json() for w in workers]},
                          "\n".join(lines))
        if health.status == "unavailable":
            raise Unavailable("the cluster reports itself unavailable")


