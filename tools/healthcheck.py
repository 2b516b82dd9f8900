"""The container image's HEALTHCHECK: is this container's EchoFS service healthy?

    python -m tools.healthcheck [master|worker|controller]

Without an argument the role is that of the EchoFS console script running in the
container (``echofs-master``, ``echofs-worker``, ``echofs-controller``), so one image
and one HEALTHCHECK serve all three. Exit 0 when healthy, 1 otherwise (one line why).

- master: ``GET /api/v1/health`` on ``MASTER_PORT`` (HTTPS when ``TLS_CERT_FILE`` is
  set) answers below 500 -- 503 means PostgreSQL is down or no write quorum is possible;
- controller: ``GET /health`` on ``CONTROLLER_PORT``;
- worker: ``grpc.health.v1`` says SERVING, on ``WORKER_HEALTH_PORT`` (plaintext) when
  cluster TLS is on, else on ``WORKER_PORT``.
"""

from __future__ import annotations

import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path

from common.config import ControllerSettings, MasterSettings, WorkerSettings

__all__ = ["detect_role", "main", "worker_health_address"]

ROLES = ("master", "worker", "controller")
_TIMEOUT_S = 4.0


def detect_role(proc: Path = Path("/proc")) -> str | None:
    """The role of the first ``echofs-<role>`` (or ``-m <role>.main``) process found."""
    for entry in sorted(proc.iterdir(), key=lambda p: p.name):
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        for role in ROLES:
            module = b"consistency_controller.main" if role == "controller" else f"{role}.main"
            if any(arg.endswith(f"echofs-{role}".encode()) for arg in argv[:2]) or (
                    len(argv) > 2 and argv[1] == b"-m" and argv[2] == module):
                return role
    return None


def worker_health_address(settings: WorkerSettings) -> str:
    tls_on = settings.cluster_tls_cert_file is not None and str(settings.cluster_tls_cert_file)
    port = (settings.worker_health_port or settings.worker_port + 200) if tls_on \
        else settings.worker_port
    return f"127.0.0.1:{port}"


def _http_ok(url: str) -> tuple[bool, str]:
    context = ssl.create_default_context()
    context.check_hostname = False  # our own loopback; the certificate names the service
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S, context=context) as response:
            return response.status < 500, f"{url}: {response.status}"
    except urllib.error.HTTPError as exc:
        return exc.code < 500, f"{url}: {exc.code}"
    except OSError as exc:
        return False, f"{url}: {exc}"


def check(role: str) -> tuple[bool, str]:
    if role == "master":
        master = MasterSettings()  # type: ignore[call-arg]  # fields come from the env
        scheme = "https" if master.tls_cert_file else "http"
        return _http_ok(f"{scheme}://127.0.0.1:{master.master_port}/api/v1/health")
    if role == "controller":
        controller = ControllerSettings()  # type: ignore[call-arg]  # from the env
        return _http_ok(f"http://127.0.0.1:{controller.controller_port}/health")
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    address = worker_health_address(WorkerSettings())  # type: ignore[call-arg]
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=_TIMEOUT_S)
        except grpc.RpcError as exc:
            return False, f"{address}: {exc.code().name}"
    serving = reply.status == health_pb2.HealthCheckResponse.SERVING
    return serving, f"{address}: {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    role = args[0] if args else detect_role()
    if role not in ROLES:
        sys.stderr.write(f"healthcheck: no EchoFS service found (role {role!r})\n")
        raise SystemExit(1)
    healthy, detail = check(role)
    (sys.stdout if healthy else sys.stderr).write(f"{role} {detail}\n")
    raise SystemExit(0 if healthy else 1)


if __name__ == "__main__":
    main()
