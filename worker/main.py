"""Entry point of ``echofs-worker`` (and ``python -m worker.main``).

Reads the settings once, sets up JSON logs and runs the worker until SIGTERM/SIGINT.
"""

from __future__ import annotations

import functools

from common.config import WorkerSettings
from common.lifecycle import run_service
from common.logging import setup_logging
from worker.server import serve

__all__ = ["main"]


def main() -> None:
    settings = WorkerSettings()  # type: ignore[call-arg]  # fields come from the env
    setup_logging("echofs-worker", settings.log_level)
    run_service(functools.partial(serve, settings))


if __name__ == "__main__":
    main()
