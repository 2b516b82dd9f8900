"""Running the ``echofs`` command in tests: as a real subprocess (the console script or
``python -m client.cli``), with its own config folder, logged in through its own
``login``; and a progress sink that stops a transfer after some parts."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.api import ApiClient
from tools.cluster import LocalCluster

__all__ = [
    "ECHOFS",
    "PASSWORD",
    "Stop",
    "StopAfter",
    "cli_env",
    "echofs",
    "exists",
    "login_with_cli",
    "ok_json",
    "random_file",
    "run_on_a_terminal",
    "same_bytes",
]

ECHOFS = Path(sys.executable).parent / "echofs"
PASSWORD = "pw-123456789"


class Stop(Exception):
    """Raised by a progress sink to interrupt a transfer after some parts."""


class StopAfter:
    """A progress sink that interrupts the transfer after ``parts`` advances."""

    def __init__(self, parts: int) -> None:
        self.left = parts

    def start(self, description: str, total_bytes: int, done_bytes: int) -> None:
        return None

    def advance(self, nbytes: int) -> None:
        self.left -= 1
        if self.left == 0:
            raise Stop

    def finish(self) -> None:
        return None


def cli_env(cluster: LocalCluster, config_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECHOFS_")}
    env.update({"ECHOFS_CONFIG_DIR": str(config_dir), "ECHOFS_URL": cluster.master_url})
    env.update(extra)
    return env


async def echofs(env: dict[str, str], *args: str, stdin: str | None = None,
                  module: bool = False) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "client.cli"] if module else [str(ECHOFS)]
    return await asyncio.to_thread(
        subprocess.run, [*command, *args], input=stdin, env=env, capture_output=True,
        text=True, timeout=240, check=False)


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def login_with_cli(cluster: LocalCluster, config_dir: Path, api: ApiClient) -> dict[str, str]:
    """A fresh user, logged in through the CLI (password on stdin); its environment."""
    profile = (await api.get_json("/api/v1/auth/profile"))[1]["data"]
    env = cli_env(cluster, config_dir)
    result = await echofs(env, "login", profile["username"], "--password-stdin", "--json",
                           stdin=PASSWORD + "\n")
    logged_in = ok_json(result)
    assert logged_in["username"] == profile["username"]
    assert logged_in["home_bucket"] == profile["home_bucket"]  # what the tests address
    return env


def random_file(path: Path, size: int) -> str:
    data = os.urandom(size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


async def exists(path: Path) -> bool:
    return await asyncio.to_thread(path.exists)


async def same_bytes(a: Path, b: Path) -> bool:
    return await asyncio.to_thread(lambda: a.read_bytes() == b.read_bytes())


def run_on_a_terminal(command: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal (stdout a pipe); (exit code, stdout, what the
    terminal showed)."""
    import pty
    controller, terminal = pty.openpty()
    with subprocess.Popen(command, env={**env, "COLUMNS": "120", "TERM": "xterm"},
                          stdout=subprocess.PIPE, stderr=terminal,
                          stdin=subprocess.DEVNULL) as process:
        os.close(terminal)
        shown = bytearray()
        while True:
            try:
                data = os.read(controller, 65536)
            except OSError:  # EIO: the process closed its end
                break
            if not data:
                break
            shown += data
        assert process.stdout is not None
        stdout = process.stdout.read().decode()
        code = process.wait(timeout=60)
    os.close(controller)
    return code, stdout, shown.decode("utf-8", "replace")
