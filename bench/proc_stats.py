"""CPU seconds and RSS of processes, from /proc (Linux)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["PeakRss", "cpu_seconds"]

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class PeakRss:
    """Sample RSS of ``pids`` in a thread; ``peak`` holds the maximum seen per name."""

    def __init__(self, pids: dict[str, int], every_s: float = 0.1) -> None:
        self._pids = pids
        self._every_s = every_s
        self.peak = {name: rss_bytes(pid) for name, pid in pids.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            for name, pid in self._pids.items():
                try:
                    self.peak[name] = max(self.peak[name], rss_bytes(pid))
                except OSError:
                    continue

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
