"""The namespace commands: ``ls``, ``stat``, ``rm``, ``mkdir``, ``mv``, ``cp``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from client import addressing
from client.commands.common import Decorator, into, size_text
from client.models import DeleteResult, DirEntry
from client.models_ops import PathOpResult, TreeRemoval
from common.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from client.cli import Invocation

__all__ = ["register"]


def _entry_line(e: DirEntry) -> str:
    size = "-" if e.type == "dir" else size_text(e.size)
    return f"{size:>10}  {e.modified[:19]:<19}  {e.name}{'/' if e.type == 'dir' else ''}"


def _op_text(result: PathOpResult) -> str:
    verb = "moved" if result.op == "move" else "copied"
    files = f"{result.files} file{'s' if result.files != 1 else ''}"
    return f"{verb} {result.source} -> {result.target} ({files})"


def _tree_text(removal: TreeRemoval) -> str:
    task = removal.task
    if task.finished:
        return f"deleted {removal.path}/ ({task.done} files)"
    return f"deleting {removal.path}/ in the background: task {task.task_id} ({task.total} files)"


def register(cli: click.Group, per_command: Decorator) -> None:
    @cli.command(name="ls")
    @click.argument("remote", required=False, default="")
    @click.option("--recursive", "-r", is_flag=True,
                  help="Everything below REMOTE, with paths relative to it.")
    @per_command
    def ls(inv: Invocation, remote: str, recursive: bool) -> None:
        """List the directory REMOTE (bucket or bucket/dir); with no REMOTE, your buckets."""
        with inv.client() as client:
            if not remote.strip(" /"):
                buckets = client.buckets()
                lines = [f"{size_text(b.used_bytes):>10}  {b.files:>8} files  "
                         f"{b.permission:<5}  {b.name}" for b in buckets]
                inv.output.result({"buckets": [b.to_json() for b in buckets]}, "\n".join(lines))
                return
            entries = client.walk(remote) if recursive else client.ls(remote)
        inv.output.result({"entries": [e.to_json() for e in entries]},
                          "\n".join(_entry_line(e) for e in entries))

    @cli.command()
    @click.argument("remote")
    @per_command
    def stat(inv: Invocation, remote: str) -> None:
        """Size, SHA-256, consistency mode, chunks and replicas of a file."""
        with inv.client() as client:
            info = client.info(remote)
        healthy = sum(1 for c in info.chunks for _, s in c.replicas if s == "live")
        lines = [f"path:        {info.bucket}/{info.path}", f"file_id:     {info.file_id}",
                 f"size:        {info.size} ({size_text(info.size)})",
                 f"sha256:      {info.sha256}", f"mode:        {info.mode}",
                 f"version_id:  {info.version_id}", f"updated_at:  {info.updated_at}",
                 f"chunks:      {len(info.chunks)} of {size_text(info.chunk_size)}, "
                 f"{healthy} live replicas"]
        inv.output.result(info.to_json(), "\n".join(lines))

    @cli.command()
    @click.argument("remotes", nargs=-1, required=True)
    @click.option("--recursive", "-r", is_flag=True,
                  help="Directories with everything below them (a server task, with "
                       "a progress bar); files too.")
    @click.option("--no-wait", is_flag=True,
                  help="With -r: start the deletion and return its task id.")
    @per_command
    def rm(inv: Invocation, remotes: tuple[str, ...], recursive: bool, no_wait: bool) -> None:
        """Delete files (bucket/path each); with -r, directories too. In a versioned
        bucket a delete adds a delete marker: `echofs versions` still lists the file."""
        deleted: list[DeleteResult] = []
        trees: list[TreeRemoval] = []
        with inv.client() as client:
            for remote in remotes:
                if not recursive:
                    deleted.append(client.delete(remote))
                    continue
                if not addressing.parse(remote, file=False).path:
                    raise InvalidInput(f"{remote} is a whole bucket: delete it with "
                                       "`echofs bucket rm --recursive`")
                try:
                    trees.append(client.delete_tree(
                        remote, wait=not no_wait, progress=inv.output.progress("files")))
                except NotFound:  # not a directory: a file, or nothing (then: not_found)
                    deleted.append(client.delete(remote))
        text = [f"deleted {d.bucket}/{d.path}" for d in deleted] + [_tree_text(t) for t in trees]
        inv.output.result({"deleted": [d.to_json() for d in deleted],
                           "trees": [t.to_json() for t in trees]}, "\n".join(text))

    @cli.command()
    @click.argument("remotes", nargs=-1, required=True)
    @per_command
    def mkdir(inv: Invocation, remotes: tuple[str, ...]) -> None:
        """Create directories (bucket/dir each) and their parents; one that exists is
        fine (created: false)."""
        with inv.client() as client:
            made = [client.mkdir(remote) for remote in remotes]
        inv.output.result({"directories": [m.to_json() for m in made]}, "\n".join(
            f"{'created' if m.created else 'exists: '} {m.bucket}/{m.path}/" for m in made))

    def _path_op(name: str, verb: str, how: str) -> None:
        @cli.command(name=name, help=f"""{verb} SOURCE to TARGET, {how}.

            SOURCE is a file, or a directory with everything below it; both are
            bucket/path. TARGET ending in '/' (or a bare bucket) keeps SOURCE's name. An
            existing TARGET is a conflict (exit 7) unless --overwrite.""")
        @click.argument("source")
        @click.argument("target")
        @click.option("--overwrite", is_flag=True, help="Replace an existing TARGET.")
        @per_command
        def command(inv: Invocation, source: str, target: str, overwrite: bool) -> None:
            destination = into(target, addressing.parse(source).name)
            with inv.client() as client:
                run = client.move if name == "mv" else client.copy
                result = run(source, destination, overwrite=overwrite)
            inv.output.result(result.to_json(), _op_text(result))

    _path_op("mv", "Move", "in one transaction")
    _path_op("cp", "Copy", "sharing its chunks (no bytes move)")
