"""What the ``echofs`` command writes: results on stdout (text or ``--json``), one line
per failure on stderr, progress bars on stderr when it is a terminal."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from client.progress import NullProgress, ProgressSink

__all__ = ["Output", "RichProgress", "one_line"]


def one_line(text: str) -> str:
    """``text`` without line breaks (a server message may carry some)."""
    return " ".join(text.split())


class RichProgress:
    """A rich progress bar on stderr: bytes done / total, rate and ETA; or, with
    ``unit="files"`` (a server task), files done / total and ETA."""

    def __init__(self, stream: TextIO, unit: str = "bytes") -> None:
        counts: tuple[ProgressColumn, ...] = (
            (DownloadColumn(), TransferSpeedColumn()) if unit == "bytes"
            else (MofNCompleteColumn(), TextColumn(unit)))
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), *counts,
            TimeRemainingColumn(), console=Console(file=stream), transient=False,
        )
        self._task: TaskID | None = None

    def start(self, description: str, total_bytes: int, done_bytes: int) -> None:
        self._progress.start()
        self._task = self._progress.add_task(description, total=total_bytes,
                                             completed=done_bytes)

    def advance(self, nbytes: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, nbytes)

    def describe(self, description: str) -> None:
        """A new description (a tree transfer's running file count)."""
        if self._task is not None:
            self._progress.update(self._task, description=description)

    def finish(self) -> None:
        self._progress.stop()


@dataclass
class Output:
    as_json: bool = False
    debug: bool = False
    quiet: bool = False
    out: TextIO | None = None  # None: sys.stdout / sys.stderr as they are when written
    err: TextIO | None = None

    @property
    def stdout(self) -> TextIO:
        return self.out if self.out is not None else sys.stdout

    @property
    def stderr(self) -> TextIO:
        return self.err if self.err is not None else sys.stderr

    def result(self, data: Any, text: str | None) -> None:
        """The command's result: ``data`` as one JSON document, or ``text``."""
        if self.as_json:
            self.stdout.write(json.dumps(data, sort_keys=True, default=str) + "\n")
        elif text:
            self.stdout.write(text.rstrip("\n") + "\n")
        self.stdout.flush()

    def note(self, text: str) -> None:
        """Side information for people (resume, dedup): stderr, not in --json or quiet."""
        if not (self.as_json or self.quiet):
            self.stderr.write(one_line(text) + "\n")

    def failure(self, code: str, message: str) -> None:
        if self.as_json:
            line = json.dumps({"success": False, "code": code, "message": one_line(message)})
        else:
            line = f"echofs: error: {one_line(message)} [{code}]"
        self.stderr.write(line + "\n")
        self.stderr.flush()

    def progress(self, unit: str = "bytes") -> ProgressSink:
        """A bar on a terminal (bytes, or ``unit`` counted: "files"), else nothing."""
        if self.as_json or self.quiet or not self.stderr.isatty():
            return NullProgress()
        return RichProgress(self.stderr, unit)
