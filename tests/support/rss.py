"""Sample a process's resident memory while something runs."""

from __future__ import annotations

import threading
from pathlib import Path

__all__ = ["RssSampler", "rss_bytes"]


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class RssSampler:
    """Background thread recording the peak RSS of ``pids`` every ``every_s`` seconds."""

    def __init__(self, pids: dict[str, int], every_s: float = 0.1) -> None:
        self._pids = pids
        self._every_s = every_s
        self.baseline = {name: rss_bytes(pid) for name, pid in pids.items()}
        self.peak = dict(self.baseline)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            for name, pid in self._pids.items():
                try:
                    self.peak[name] = max(self.peak[name], rss_bytes(pid))
                except (OSError, RuntimeError):
                    continue

    def growth(self) -> dict[str, int]:
        return {name: self.peak[name] - self.baseline[name] for name in self._pids}

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
