"""Start, stop, kill and freeze real EchoFS processes (make run-cluster, tests, bench).

Each process runs its console entry point (``python -m <module>``) with an explicit
environment, logs to a file under the test's folder, and is always reaped: tests use
these as context managers or through fixtures that stop them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

__all__ = ["ManagedProcess", "stop_all", "wait_for_grpc_serving", "wait_for_http",
           "wait_for_port"]

REPO_ROOT = Path(__file__).resolve().parents[1]


def wait_for_port(
    host: str, port: int, timeout_s: float = 30.0, proc: ManagedProcess | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None:
            proc.check_alive()
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s}s")


def wait_for_http(url: str, timeout_s: float = 30.0, proc: ManagedProcess | None = None) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        if proc is not None:
            proc.check_alive()
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
            last = exc
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout_s}s: {last}")


def wait_for_grpc_serving(
    address: str, timeout_s: float = 30.0, proc: ManagedProcess | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    last: object = None
    # A channel whose first connect is refused (the worker is still importing) waits
    # out gRPC's reconnect backoff, 1 s at first, before it tries again: that second
    # was paid by every worker start. Retry as often as this loop polls instead.
    options = [("grpc.initial_reconnect_backoff_ms", 100),
               ("grpc.min_reconnect_backoff_ms", 100),
               ("grpc.max_reconnect_backoff_ms", 500)]
    with grpc.insecure_channel(address, options=options) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc is not None:
                proc.check_alive()
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
                last = reply.status
            except grpc.RpcError as exc:
                last = exc.code()
            time.sleep(0.1)
    raise TimeoutError(f"worker at {address} not SERVING after {timeout_s}s: {last}")


@dataclass
class ManagedProcess:
    """One child process with its own environment and log file."""

    name: str
    module: str
    env: dict[str, str]
    log_path: Path
    args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    # Run under this command, e.g. ``["ip", "netns", "exec", "ns1"]``; it must exec the
    # interpreter (not fork it) so that ``pid`` and signals still reach the process.
    command_prefix: list[str] = field(default_factory=list)

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ECHOFS_TEST_",))}
        env.update(self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                [*self.command_prefix, sys.executable, "-m", self.module, *self.args],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.process.returncode}; log tail:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self.process is not None
            os.kill(self.process.pid, sig)

    def freeze(self) -> None:
        self.signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL, no chance to clean up: what a crash looks like."""
        if self.process is None:
            return
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self) -> None:
        """SIGTERM (after SIGCONT, in case it is frozen) without waiting: see :meth:`stop`."""
        if self.alive():
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)

    def stop(self, timeout_s: float = 10.0, *, signalled: bool = False) -> int | None:
        """SIGTERM then wait; SIGKILL if it does not go. ``signalled``: :meth:`terminate`
        was called already (a second SIGTERM could reach it after its handler is gone)."""
        if self.process is None:
            return None
        if self.alive():
            if not signalled:
                self.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.process.wait(timeout=10)
        return self.process.returncode


def stop_all(processes: list[ManagedProcess], timeout_s: float = 10.0) -> None:
    """Stop several processes at once: SIGTERM to all, then wait for each (SIGKILL for
    any still there after ``timeout_s``); their shutdowns overlap instead of adding up."""
    for proc in processes:
        proc.terminate()
    for proc in processes:
        proc.stop(timeout_s, signalled=True)
