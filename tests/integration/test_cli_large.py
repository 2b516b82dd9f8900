"""A 200 MiB file through the ``echofs`` command and back, byte-equal, while the CLI's
memory stays far below the file's size: ``put`` reads parts from disk as it sends them
and ``get`` writes ranges to disk as they arrive (DESIGN §14; issue 20)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.api import ApiClient
from tests.support.cli import ECHOFS, login_with_cli, ok_json
from tests.support.clusters import module_cluster
from tests.support.rss import RssSampler
from tools.cluster import LocalCluster

MiB = 1024 * 1024
SIZE = 200 * MiB
# Python, httpx, rich and grpc (through common.errors) take ~55 MiB before any transfer;
# four 4 MiB parts in flight add a few more. A CLI that held the file would need > 200.
CLI_RSS_LIMIT = 128 * MiB


@pytest.fixture(scope="module")
def cluster(pg_server_url: str, redis_url: str) -> Iterator[LocalCluster]:
    with module_cluster(pg_server_url, redis_url, "cli-large", workers=3,
                        chunk_size=4 * MiB) as running:
        yield running


def _write_random(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as f:
        for _ in range(size // (8 * MiB)):
            block = os.urandom(8 * MiB)
            digest.update(block)
            f.write(block)
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(8 * MiB):
            digest.update(block)
    return digest.hexdigest()


def _run_sampled(command: list[str], env: dict[str, str]) -> tuple[str, int]:
    """(stdout, peak RSS of the process) of a run that must succeed."""
    env = {**env, **({"MALLOC_MMAP_THRESHOLD_": os.environ["XT"]} if "XT" in os.environ else {})}
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as process:
        with RssSampler({"cli": process.pid}, every_s=0.05) as sampler:
            stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
        return stdout, sampler.peak["cli"]


async def test_a_200_mib_round_trip_is_byte_equal_with_bounded_cli_memory(
    cluster: LocalCluster, api: ApiClient, tmp_path: Path
) -> None:
    env = await login_with_cli(cluster, tmp_path / "config", api)
    remote = f"{api.home_bucket}/cli/large.bin"
    source, copy = tmp_path / "large.bin", tmp_path / "large-copy.bin"
    sha = await asyncio.to_thread(_write_random, source, SIZE)

    stdout, put_peak = await asyncio.to_thread(
        _run_sampled, [str(ECHOFS), "put", str(source), remote, "--json"], env)
    put = ok_json(_completed(stdout))
    assert put["receipt"]["sha256"] == sha and put["chunks_total"] == SIZE // (4 * MiB)
    stdout, get_peak = await asyncio.to_thread(
        _run_sampled, [str(ECHOFS), "get", remote, str(copy), "--json"], env)
    assert ok_json(_completed(stdout))["sha256"] == sha
    assert await asyncio.to_thread(_sha256, copy) == sha
    assert put_peak < CLI_RSS_LIMIT and get_peak < CLI_RSS_LIMIT, (put_peak, get_peak)


def _completed(stdout: str) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess([], 0, stdout, "")
