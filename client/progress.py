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
