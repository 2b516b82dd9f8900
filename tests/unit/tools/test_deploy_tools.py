"""tools.deploy_secrets (what deploy/ is given) and tools.healthcheck (the image's
HEALTHCHECK), without network."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509

from common.config import WorkerSettings
from common.startup_checks import check_secret
from tools.deploy_secrets import main as deploy_secrets_main
from tools.healthcheck import detect_role, worker_health_address


def test_deploy_secrets_are_strong_private_and_never_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "secrets"
    deploy_secrets_main(["--out", str(out), "--workers", "echofs-worker-0,echofs-worker-1"])
    env_file = out / "echofs.env"
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    for name in ("CLUSTER_SECRET", "JWT_SECRET"):
        check_secret(name, values[name], dev_mode=False)  # raises if a service would refuse
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "tls" / "echofs-worker-1.key").stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate((out / "tls" / "echofs-worker-0.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "echofs-worker-0" in names.get_values_for_type(x509.DNSName)
    for name in ("master", "controller"):
        assert (out / "tls" / f"{name}.pem").is_file()

    before = env_file.read_text(), (out / "tls" / "master.pem").read_bytes()
    deploy_secrets_main(["--out", str(out), "--workers", "echofs-worker-0,echofs-worker-2"])
    assert (env_file.read_text(), (out / "tls" / "master.pem").read_bytes()) == before
    assert (out / "tls" / "echofs-worker-2.pem").is_file()


def _fake_proc(root: Path, pid: int, *argv: str) -> None:
    (root / str(pid)).mkdir(parents=True)
    (root / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")


@pytest.mark.parametrize(("argv", "role"), [
    (("/opt/echofs/bin/python", "/opt/echofs/bin/echofs-worker"), "worker"),
    (("/opt/echofs/bin/python", "/opt/echofs/bin/echofs-master"), "master"),
    (("python", "-m", "consistency_controller.main"), "controller"),
    (("python", "-m", "tools.healthcheck"), None),
])
def test_the_healthcheck_finds_the_role_of_the_container(
    tmp_path: Path, argv: tuple[str, ...], role: str | None
) -> None:
    _fake_proc(tmp_path, 1, "/sbin/docker-init", "--")
    _fake_proc(tmp_path, 7, *argv)
    (tmp_path / "self").mkdir()
    assert detect_role(tmp_path) == role


def test_the_worker_healthcheck_uses_the_plaintext_health_port_when_tls_is_on() -> None:
    plain = WorkerSettings(worker_port=9000)
    assert worker_health_address(plain) == "127.0.0.1:9000"
    tls = WorkerSettings(worker_port=9000, cluster_tls_cert_file=Path("/etc/echofs/w.pem"))
    assert worker_health_address(tls) == "127.0.0.1:9200"
    chosen = WorkerSettings(worker_port=9000, worker_health_port=9555,
                            cluster_tls_cert_file=Path("/etc/echofs/w.pem"))
    assert worker_health_address(chosen) == "127.0.0.1:9555"
