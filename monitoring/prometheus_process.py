"""Run a real Prometheus binary on loopback and ask it PromQL questions.

Shared by ``make monitoring`` (``monitoring.local``) and the monitoring tests. The binary
comes from Debian's ``prometheus`` package (``make tools`` installs it); its own system
service is never used.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["PromQLError", "PrometheusProcess", "api_get", "find_binary", "query"]


class PromQLError(RuntimeError):
    """Prometheus refused a query (it does not parse, or its evaluation failed)."""


def find_binary(name: str = "prometheus") -> str:
    """Path of ``prometheus`` or ``promtool``; raises FileNotFoundError with the fix."""
    found = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/bin") / name, Path("/usr/sbin") / name) if p.is_file()), None
    )
    if found is None:
        raise FileNotFoundError(
            f"{name} not found: run `make tools` (apt-get install prometheus) or put it on PATH"
        )
    return found


def _get_json(url: str, timeout_s: float) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            body: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:  # 400/422 carry Prometheus's error JSON
        body = json.loads(exc.read() or b"{}")
    return body


def api_get(base_url: str, path: str, timeout_s: float = 10.0) -> Any:
    """The ``data`` of any Prometheus API GET (``/api/v1/rules``, ``/api/v1/alerts``...)."""
    body = _get_json(f"{base_url}{path}", timeout_s)
    if body.get("status") != "success":
        raise PromQLError(f"{body.get('errorType')}: {body.get('error')} from {path}")
    return body["data"]


def query(base_url: str, expr: str, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """Instant query; the result vector (or a one-element list for a scalar)."""
    url = f"{base_url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    body = _get_json(url, timeout_s)
    if body.get("status") != "success":
        raise PromQLError(f"{body.get('errorType')}: {body.get('error')} in {expr!r}")
    data = body["data"]
    if data["resultType"] in ("scalar", "string"):
        return [{"metric": {}, "value": data["result"]}]
    result: list[dict[str, Any]] = data["result"]
    return result


@dataclass
class PrometheusProcess:
    """One Prometheus server: ``start()`` waits for ``/-/ready``; ``stop()`` is idempotent."""

    config_file: Path
    storage_dir: Path
    port: int
    host: str = "127.0.0.1"
    log_file: Path | None = None
    extra_args: tuple[str, ...] = ()
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        return [
            find_binary("prometheus"),
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.storage_dir}",
            f"--web.listen-address={self.host}:{self.port}",
            "--storage.tsdb.retention.time=2d",
            *self.extra_args,
        ]

    def start(self, timeout_s: float = 30.0) -> PrometheusProcess:
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_file.open("ab")
        self._process = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL,
            stdout=self._log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self.stop()
                raise RuntimeError(f"prometheus exited with {code}; see {self.log_file}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"prometheus not ready on {self.url} after {timeout_s}s")

    def exited(self) -> bool:
        return self._process is None or self._process.poll() is not None

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> PrometheusProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
