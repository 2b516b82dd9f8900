"""Entry point of ``echofs-worker`` (and ``python -m worker.main``).

Reads the settings once, sets up JSON logs and runs the worker until SIGTERM/SIGINT.
"""

from __future__ import annotations

import functools

from common.config import WorkerSettings
from common.lifecycle import run_service
from common.logging import setup_logging
from common.startup_checks import StartupRefused, check_cluster_identity, exit_if_refused
from worker.server import serve

__all__ = ["main"]


def main() -> None:
    settings = WorkerSettings()  # type: ignore[call-arg]  # fields come from the env
    setup_logging("echofs-worker", settings.log_level)
    try:
        check_cluster_identity(settings)
    except StartupRefused as refused:
        exit_if_refused("echofs-worker", refused)
    run_service(functools.partial(serve, settings))


if __name__ == "__main__":
    main()
