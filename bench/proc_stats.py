"""CPU seconds and RSS of processes and their children, from /proc (Linux).

A benchmarked "process" may be a tree: PostgreSQL forks a backend per connection, so its
CPU is the postmaster's plus every live descendant's plus what reaped children left in
the parent's cutime/cstime. RSS of a tree is its largest single process (shared buffers
would be counted many times by a sum).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["PeakRss", "children", "cpu_seconds", "cpu_split", "rss_bytes", "tree_pids"]

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


def tree_pids(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo += children(current)
    return out


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process and its descendants (live and reaped)."""
    fields = _stat_fields(pid)
    user = int(fields[11]) + int(fields[13])  # utime + cutime
    system = int(fields[12]) + int(fields[14])  # stime + cstime
    for child in tree_pids(pid)[1:]:
        try:
            child_fields = _stat_fields(child)
        except OSError:
            continue  # exited between listing and reading; its parent's cutime gets it
        user += int(child_fields[11])
        system += int(child_fields[12])
    return user / _TICKS, system / _TICKS


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants so far."""
    return sum(cpu_split(pid))


def rss_bytes(pid: int) -> int:
    """The largest VmRSS among the process and its descendants."""
    best = 0
    for member in tree_pids(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    best = max(best, int(line.split()[1]) * 1024)
        except OSError:
            continue
    return best


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
