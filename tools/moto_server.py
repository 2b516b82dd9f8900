"""A moto S3 server on loopback, for the S3 contract tests and the worker benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common.embedded import free_port
from tools.procs import wait_for_http

__all__ = ["moto_server"]


@contextmanager
def moto_server(log_path: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """Start ``python -m moto.server`` on a free port; yield its URL; stop it on exit."""
    port = free_port()
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url, timeout_s=60)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
