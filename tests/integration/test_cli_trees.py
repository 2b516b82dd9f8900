"""``echofs put -r`` / ``get -r`` against a real cluster (issue 20's must-shows): a tree of
500 small files and a multi-part file round-trips byte-equal; a rerun sends only what
differs (the master's byte counters say so); a ``put -r`` or ``get`` killed mid-transfer
and run again sends only the files and parts the other side lacks; on a terminal one
progress bar counts files and shows bytes and rate."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import re
import signal
import subprocess
from pathlib import Path

from client import AsyncClient
from client.config import ClientConfig
from client.downloads import part_paths
from client.models_ops import TreeResult
from client.state import UploadStateStore, load_download_state
from tests.support.api import ApiClient
from tests.support.cli import (
    ECHOFS,
    conforms,
    echofs,
    login_with_cli,
    ok_json,
    random_file,
    run_on_a_terminal,
)
from tests.support.metrics import metric_sum
from tests.support.waiting import eventually
from tools.cluster import LocalCluster

MiB = 1024 * 1024
RANGE = 4 * MiB  # the client's range size for get (client.plan.DEFAULT_CHUNK_SIZE)


def _make_tree(root: Path, small_files: int, seed: int = 20) -> None:
    """``small_files`` files of 0-16 KiB in nested folders, a 9 MiB file (three parts of
    the client's 4 MiB), and an empty folder."""
    rng = random.Random(seed)
    for i in range(small_files):
        path = root / f"d{i % 5}" / f"s{i % 4}" / f"file-{i:04d}.dat"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randrange(0, 16 * 1024)))
    (root / "big.bin").write_bytes(os.urandom(9 * MiB + 3))
    (root / "empty" / "leaf").mkdir(parents=True)


def _contents(root: Path) -> dict[str, str]:
    """Every file below ``root`` by relative path, as its SHA-256; folders as 'dir'."""
    found: dict[str, str] = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        found[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return found


async def test_a_tree_of_500_files_round_trips_byte_equal_and_reruns_send_only_changes(
    cluster: LocalCluster, api: ApiClient, tmp_path: Path
) -> None:
    env = await login_with_cli(cluster, tmp_path / "config", api)
    remote = f"{api.home_bucket}/photos"
    src, dst = tmp_path / "src", tmp_path / "dst"
    await asyncio.to_thread(_make_tree, src, 500)
    metrics = f"{cluster.master_url}/metrics"
    total = sum(p.stat().st_size for p in src.rglob("*") if p.is_file())

    put = ok_json(await echofs(env, "put", "-r", str(src), remote, "--transfers", "8",
                               "--json"))
    conforms(TreeResult, put)
    assert (put["files_total"], put["files_transferred"], put["files_skipped"]) == (501, 501, 0)
    assert (put["bytes_total"], put["bytes_moved"], put["failed"]) == (total, total, [])
    assert put["dirs_created"] == 1

    # Run again: nothing differs, nothing is sent.
    bytes_in = metric_sum(metrics, "echofs_bytes_in_total")
    again = ok_json(await echofs(env, "put", "-r", str(src), remote, "--json"))
    assert (again["files_skipped"], again["files_transferred"], again["bytes_moved"]) == (
        501, 0, 0)
    assert metric_sum(metrics, "echofs_bytes_in_total") == bytes_in

    # Change one file's size, another's bytes only, add one: exactly those three go.
    grown = src / "d1" / "s1" / "file-0001.dat"
    grown.write_bytes(grown.read_bytes() + b"more")
    same_size = src / "d2" / "s2" / "file-0002.dat"
    same_size.write_bytes(os.urandom(same_size.stat().st_size))
    (src / "d0" / "new.txt").write_bytes(b"new file\n")
    changed_bytes = grown.stat().st_size + same_size.stat().st_size + 9
    changed = ok_json(await echofs(env, "put", "-r", str(src), remote, "--json"))
    assert (changed["files_transferred"], changed["files_skipped"]) == (3, 499)
    assert changed["bytes_moved"] == changed_bytes
    assert metric_sum(metrics, "echofs_bytes_in_total") - bytes_in == changed_bytes

    got = ok_json(await echofs(env, "get", "-r", remote, str(dst), "--transfers", "8",
                               "--json"))
    conforms(TreeResult, got)
    assert (got["files_total"], got["files_transferred"], got["failed"]) == (502, 502, [])
    assert await asyncio.to_thread(_contents, dst) == await asyncio.to_thread(_contents, src)

    # get -r again: all there; then one local file lost and one damaged: those two come.
    bytes_out = metric_sum(metrics, "echofs_bytes_out_total")
    same = ok_json(await echofs(env, "get", "-r", remote, str(dst), "--json"))
    assert (same["files_skipped"], same["bytes_moved"]) == (502, 0)
    assert metric_sum(metrics, "echofs_bytes_out_total") == bytes_out
    (dst / "big.bin").unlink()
    damaged = dst / "d3" / "s3" / "file-0003.dat"
    damaged.write_bytes(bytes(damaged.stat().st_size))
    repaired = ok_json(await echofs(env, "get", "-r", remote, str(dst), "--json"))
    assert (repaired["files_transferred"], repaired["files_skipped"]) == (2, 500)
    expected = 9 * MiB + 3 + damaged.stat().st_size
    assert repaired["bytes_moved"] == expected
    assert metric_sum(metrics, "echofs_bytes_out_total") - bytes_out == expected
    assert await asyncio.to_thread(_contents, dst) == await asyncio.to_thread(_contents, src)


def _received(api: ApiClient, session_id: str) -> list[int]:
    import urllib.request
    request = urllib.request.Request(f"{api.base_url}/api/v1/files/upload/{session_id}",
                                     headers=api.auth)
    with urllib.request.urlopen(request, timeout=10) as response:
        return sorted(json.load(response)["data"]["received"])


async def _still(api: ApiClient, session_id: str) -> list[int]:
    """The parts of a session once two reads a second apart agree (a part in flight when
    the client died may still land)."""
    now: list[int] = []
    for _ in range(60):
        before, now = now, await asyncio.to_thread(_received, api, session_id)
        if now == before:
            return now
        await asyncio.sleep(1.0)
    raise AssertionError("the session never settled")


async def test_put_r_killed_midway_then_rerun_sends_only_missing_files_and_parts(
    cluster: LocalCluster, api: ApiClient, tmp_path: Path
) -> None:
    config_dir = tmp_path / "config"
    env = await login_with_cli(cluster, config_dir, api)
    remote = f"{api.home_bucket}/killed"
    src = tmp_path / "src"
    (src / "small").mkdir(parents=True)
    random_file(src / "a-big.bin", 24 * MiB)  # first in path order: in flight at once
    for i in range(30):
        random_file(src / "small" / f"{i:02d}.txt", 1000 + i)
    total = sum(p.stat().st_size for p in src.rglob("*") if p.is_file())
    store = UploadStateStore(config_dir)
    key = UploadStateStore.key(src / "a-big.bin", f"{remote}/a-big.bin", (cluster.master_url,))
    # --bwlimit keeps the run going long enough to be killed in the middle.
    process = await asyncio.create_subprocess_exec(
        str(ECHOFS), "put", "-r", str(src), remote, "--transfers", "2", "--chunk-size",
        str(MiB), "--parallel", "1", "--bwlimit", "4M", "--json",
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        saved = await eventually(lambda: store.find(key), timeout_s=60, every_s=0.05)
        assert saved is not None
        assert await eventually(lambda: len(_received(api, saved.session_id)) >= 3,
                                timeout_s=60, every_s=0.05)
    finally:
        process.kill()
        await asyncio.wait_for(process.wait(), timeout=30)
    received = await _still(api, saved.session_id)
    assert 3 <= len(received) < 24
    config = ClientConfig((cluster.master_url,), api.token, None, None)
    async with AsyncClient(config) as sdk:
        there = {e.name: e.etag for e in await sdk.walk(remote) if e.type == "file"}
    done_bytes = sum(p.stat().st_size for p in src.rglob("*") if p.is_file()
                     and there.get(p.relative_to(src).as_posix())
                     == hashlib.sha256(p.read_bytes()).hexdigest())

    metrics = f"{cluster.master_url}/metrics"
    bytes_in = metric_sum(metrics, "echofs_bytes_in_total")
    rerun = ok_json(await echofs(env, "put", "-r", str(src), remote, "--json"))
    assert rerun["failed"] == [] and rerun["files_skipped"] == len(there)
    assert rerun["bytes_moved"] == total - done_bytes - len(received) * MiB
    assert metric_sum(metrics, "echofs_bytes_in_total") - bytes_in == rerun["bytes_moved"]
    got = ok_json(await echofs(env, "get", "-r", remote, str(tmp_path / "back"), "--json"))
    assert got["files_total"] == 31
    assert await asyncio.to_thread(_contents, tmp_path / "back") == await asyncio.to_thread(
        _contents, src)


async def test_get_killed_midway_then_rerun_resumes_its_part_file(
    cluster: LocalCluster, api: ApiClient, tmp_path: Path
) -> None:
    env = await login_with_cli(cluster, tmp_path / "config", api)
    remote = f"{api.home_bucket}/get/killed.bin"
    source = tmp_path / "killed.bin"
    sha = random_file(source, 24 * MiB + 7)
    async with AsyncClient(ClientConfig((cluster.master_url,), api.token, None, None)) as sdk:
        await sdk.put(source, remote)
    target = tmp_path / "copy.bin"
    part, record = part_paths(target)

    def ranges_recorded() -> int:
        state = load_download_state(record)
        return len(state.done) if state is not None else 0
    process = await asyncio.create_subprocess_exec(
        str(ECHOFS), "get", remote, str(target), "--parallel", "1", "--bwlimit", "4M",
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert await eventually(lambda: ranges_recorded() >= 2, timeout_s=60, every_s=0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(process.wait(), timeout=30)
    recorded = ranges_recorded()
    assert 2 <= recorded < 7 and part.exists() and not target.exists()

    metrics = f"{cluster.master_url}/metrics"
    bytes_out = metric_sum(metrics, "echofs_bytes_out_total")
    got = ok_json(await echofs(env, "get", remote, str(target), "--json"))
    assert got["resumed"] and got["sha256"] == sha
    assert got["bytes_fetched"] == 24 * MiB + 7 - recorded * RANGE
    assert metric_sum(metrics, "echofs_bytes_out_total") - bytes_out == got["bytes_fetched"]
    assert target.read_bytes() == source.read_bytes()
    assert not part.exists() and not record.exists()


async def test_a_terminal_shows_one_bar_for_a_tree_with_files_bytes_and_rate(
    cluster: LocalCluster, api: ApiClient, tmp_path: Path
) -> None:
    env = await login_with_cli(cluster, tmp_path / "config", api)
    remote = f"{api.home_bucket}/bar"
    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        random_file(src / f"{i}.bin", 3 * MiB // 2)
    code, stdout, shown = await asyncio.to_thread(
        run_on_a_terminal, [str(ECHOFS), "put", "-r", str(src), remote], env)
    assert code == 0 and "6 files" in stdout, stdout
    assert "put 6/6 files" in shown and "9.4/9.4 MB" in shown, shown
    assert "/s" in shown and "\x1b[" in shown
    code, stdout, shown = await asyncio.to_thread(
        run_on_a_terminal, [str(ECHOFS), "rm", "-r", remote], env)
    assert code == 0 and f"deleted {remote}/ (6 files)" in stdout, stdout
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)  # without colours and moves
    assert f"rm -r {remote}" in plain and "6/6 files" in plain, plain
