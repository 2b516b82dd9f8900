"""How transfers report progress: a tiny interface the CLI implements with rich (on a
terminal) and scripts may implement however they like — or not at all."""

from __future__ import annotations

from typing import Protocol

__all__ = ["NullProgress", "ProgressSink"]


class ProgressSink(Protocol):
    def start(self, description: str, total_bytes: int, done_bytes: int) -> None:
        """A transfer of ``total_bytes`` begins, ``done_bytes`` of them already done
        (resumed)."""

    def advance(self, nbytes: int) -> None:
        """``nbytes`` more are done. May raise to stop the transfer (it stays resumable)."""

    def finish(self) -> None:
        """The transfer ended (successfully or not)."""


class NullProgress:
    def start(self, description: str, total_bytes: int, done_bytes: int) -> None:
        return None

    def advance(self, nbytes: int) -> None:
        return None

    def finish(self) -> None:
        return None


class TreeProgress:
    """One bar for a whole tree transfer: bytes of every file against the tree's total,
    the description counting files ("put 12/500 files").

    Each file's transfer reports to a :meth:`child`, whose ``start`` counts the bytes a
    resumed file already had as done and whose ``finish`` does nothing (the tree's bar
    stays up). A sink with a ``describe(text)`` method gets the running file count.
    """

    def __init__(self, sink: ProgressSink, action: str, files_total: int,
                 bytes_total: int) -> None:
        self._sink = sink
        self._action = action
        self._files_total = files_total
        self._files_done = 0
        sink.start(self._description(), bytes_total, 0)

    def _description(self) -> str:
        return f"{self._action} {self._files_done}/{self._files_total} files"

    def advance(self, nbytes: int) -> None:
        if nbytes:
            self._sink.advance(nbytes)

    def file_done(self) -> None:
        self._files_done += 1
        describe = getattr(self._sink, "describe", None)
        if callable(describe):
            describe(self._description())

    def child(self) -> ProgressSink:
        return _FileInTree(self)

    def finish(self) -> None:
        self._sink.finish()


class _FileInTree:
    def __init__(self, tree: TreeProgress) -> None:
        self._tree = tree

    def start(self, description: str, total_bytes: int, done_bytes: int) -> None:
        self._tree.advance(done_bytes)

    def advance(self, nbytes: int) -> None:
        self._tree.advance(nbytes)

    def finish(self) -> None:
        return None


__all__ += ["TreeProgress"]
