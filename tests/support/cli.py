"""Running the ``echofs`` command in tests: as a real subprocess (the console script or
``python -m client.cli``), or, for long lists of error cases, through the same entry point
in this process (:func:`echofs_in_process`); with its own config folder, logged in through
its own ``login``; and a progress sink that stops a transfer after some parts."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import types
import typing
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
    "conforms",
    "default_sigint",
    "echofs",
    "echofs_in_process",
    "exists",
    "failed_one_line",
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


# sys.stdin/stdout/stderr are process-wide: one in-process command at a time.
_IN_PROCESS = threading.Lock()


def _run_main(env: dict[str, str], args: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    from client.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved_stdin = sys.stdin
    with _IN_PROCESS, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        sys.stdin = io.StringIO("")  # as a subprocess at the end of its input
        try:
            code = main(list(args), environ=env)
        finally:
            sys.stdin = saved_stdin
    return subprocess.CompletedProcess(["echofs", *args], code, out.getvalue(), err.getvalue())


async def echofs_in_process(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``echofs args`` through the console script's own function (``client.cli:main``,
    given ``env`` as its environment) in a thread of this process, stdout and stderr
    captured: the same parsing, commands and exit codes as :func:`echofs`, without a
    Python start (~0.5 s) per case. For long lists of error cases; tests that use it
    still run some cases through :func:`echofs` to prove the installed command."""
    return await asyncio.to_thread(_run_main, env, args)


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


def default_sigint() -> None:
    """``preexec_fn`` for a child that a test stops with SIGINT: a shell that starts a job
    in the background (``pytest ... &``) makes SIGINT ignored, and children inherit that;
    the CLI under test should see a Ctrl-C as a terminal would send it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _conforms_value(hint: Any, value: Any, where: str) -> None:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return
        hint = next(o for o in options if o is not type(None))
        origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        assert isinstance(value, dict), (where, value)
        conforms(hint, value, where=where)  # type: ignore[arg-type]
    elif origin in (tuple, list, frozenset, set):
        assert isinstance(value, list), (where, value)
        item = typing.get_args(hint)[0] if typing.get_args(hint) else Any
        if dataclasses.is_dataclass(item):
            for i, element in enumerate(value):
                _conforms_value(item, element, f"{where}[{i}]")
    elif hint is bool:
        assert isinstance(value, bool), (where, value)
    elif hint is int:
        assert isinstance(value, int) and not isinstance(value, bool), (where, value)
    elif hint is float:
        assert isinstance(value, int | float) and not isinstance(value, bool), (where, value)
    elif hint is str:
        assert isinstance(value, str), (where, value)


def conforms(model: type, data: Any, *, omit: frozenset[str] = frozenset(),
             extra: frozenset[str] = frozenset(), where: str = "$") -> None:
    """Assert that ``data`` (a command's ``--json``) is the SDK's ``model``: exactly its
    fields (less ``omit``, plus ``extra``), each of its declared type, nested models
    checked the same way."""
    assert isinstance(data, dict), (where, data)
    fields = {f.name for f in dataclasses.fields(model)} - omit
    assert set(data) == fields | extra, (where, sorted(set(data) ^ (fields | extra)))
    hints = typing.get_type_hints(model)
    for name in fields:
        _conforms_value(hints[name], data[name], f"{where}.{name}")


def failed_one_line(result: subprocess.CompletedProcess[str], exit_code: int,
                    code: str) -> None:
    """A failure as documented: ``exit_code``, one line on stderr naming the error
    ``code``, no traceback."""
    assert result.returncode == exit_code, (result.returncode, result.stderr)
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n"), result.stderr
    assert f"[{code}]" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
