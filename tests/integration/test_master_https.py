"""TLS_CERT_FILE + TLS_KEY_FILE: the master serves HTTPS only; one without the other
refuses to start, in one line."""

from __future__ import annotations

import asyncio
import os
import secrets
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from common.config import MasterSettings
from common.embedded import free_port
from master.main import https_context
from tests.support.services import create_database
from tools.certs import CertFiles, ClusterCa
from tools.procs import ManagedProcess

pytestmark = pytest.mark.timeout(120)


def _secrets_env() -> dict[str, str]:
    return {"JWT_SECRET": secrets.token_urlsafe(48), "CLUSTER_SECRET": secrets.token_urlsafe(48)}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return ClusterCa(tmp_path_factory.mktemp("tls")).issue("master")


@pytest.fixture(scope="module")
def https_master(pg_server_url: str, redis_url: str, certs: CertFiles,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    var_dir = tmp_path_factory.mktemp("https-master")
    port = free_port()
    process = ManagedProcess("master", "master.main", {
        **_secrets_env(), "DATABASE_URL": create_database(pg_server_url),
        "REDIS_URL": redis_url, "VAR_DIR": str(var_dir), "MASTER_HOST": "127.0.0.1",
        "MASTER_PORT": str(port), "CONTROLLER_URL": "http://127.0.0.1:1", "LOG_LEVEL": "INFO",
        "TLS_CERT_FILE": str(certs.cert_file), "TLS_KEY_FILE": str(certs.key_file),
    }, var_dir / "logs" / "master.log").start()
    try:
        context = ssl.create_default_context(cafile=str(certs.ca_file))
        asyncio.run(_wait_for_health(f"https://127.0.0.1:{port}", context, process))
        yield port
    finally:
        process.stop()


async def _wait_for_health(url: str, context: ssl.SSLContext, process: ManagedProcess) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        for _ in range(300):
            process.check_alive()
            try:
                async with http.get(f"{url}/api/v1/health", ssl=context):
                    return
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(0.1)
    raise TimeoutError(f"{url} never answered; log:\n{process.log_tail()}")


async def test_health_answers_over_https_to_a_client_that_trusts_the_ca(
    https_master: int, certs: CertFiles
) -> None:
    context = ssl.create_default_context(cafile=str(certs.ca_file))
    async with aiohttp.ClientSession() as http:
        async with http.get(f"https://localhost:{https_master}/api/v1/health",
                            ssl=context) as r:
            body = await r.json()
    _, writer = await asyncio.open_connection("127.0.0.1", https_master, ssl=context,
                                              server_hostname="localhost")
    tls_version = writer.get_extra_info("ssl_object").version()
    writer.close()
    await writer.wait_closed()
    assert body["data"]["service"] == "echofs-master", body
    assert tls_version in ("TLSv1.2", "TLSv1.3")


async def test_plain_http_and_untrusting_clients_get_nothing(https_master: int) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        with pytest.raises(aiohttp.ClientError):
            async with http.get(f"http://127.0.0.1:{https_master}/api/v1/health") as r:
                await r.read()
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            async with http.get(f"https://127.0.0.1:{https_master}/api/v1/health") as r:
                await r.read()


def test_the_server_context_refuses_tls_below_1_2(certs: CertFiles) -> None:
    settings = MasterSettings(tls_cert_file=certs.cert_file, tls_key_file=certs.key_file)
    context = https_context(settings)
    assert context is not None and context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert https_context(MasterSettings(tls_cert_file=None, tls_key_file=None)) is None


@pytest.mark.parametrize("only", ["TLS_CERT_FILE", "TLS_KEY_FILE"])
def test_one_tls_file_without_the_other_refuses_to_start(
    only: str, certs: CertFiles, tmp_path: Path
) -> None:
    given = {"TLS_CERT_FILE": certs.cert_file, "TLS_KEY_FILE": certs.key_file}[only]
    env = {k: v for k, v in os.environ.items()
           if k not in ("TLS_CERT_FILE", "TLS_KEY_FILE", "DEV_MODE")}
    result = subprocess.run(
        [sys.executable, "-m", "master.main"],
        env={**env, **_secrets_env(), "VAR_DIR": str(tmp_path), "MASTER_PORT": "0",
             "DATABASE_URL": "postgresql://127.0.0.1:1/x", "REDIS_URL": "redis://127.0.0.1:1",
             only: str(given)},
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    missing = "TLS_KEY_FILE" if only == "TLS_CERT_FILE" else "TLS_CERT_FILE"
    assert "refusing to start" in lines[0] and f"{missing} not set" in lines[0], lines


def test_a_certificate_that_does_not_load_refuses_to_start(
    certs: CertFiles, tmp_path: Path
) -> None:
    garbage = tmp_path / "not-a-key.pem"
    garbage.write_text("not a key\n")
    env = {k: v for k, v in os.environ.items() if k != "DEV_MODE"}
    result = subprocess.run(
        [sys.executable, "-m", "master.main"],
        env={**env, **_secrets_env(), "VAR_DIR": str(tmp_path), "MASTER_PORT": "0",
             "DATABASE_URL": "postgresql://127.0.0.1:1/x", "REDIS_URL": "redis://127.0.0.1:1",
             "TLS_CERT_FILE": str(certs.cert_file), "TLS_KEY_FILE": str(garbage)},
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "TLS_KEY_FILE" in lines[0], lines
