"""The ``echofs`` command and the SDK against a real cluster: round trips verified by
SHA-256, ``put`` resumed after being stopped or killed (only the missing parts are sent,
as the master's own counters show), ``get`` resumed from a partial file, and the error
and ``--json`` contracts. The CLI runs as a real subprocess (console script and
``python -m client.cli``)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from client import AsyncClient
from client.config import ClientConfig
from client.state import UploadStateStore
from tests.support.api import ApiClient
from tests.support.cli import (
    ECHOFS,
    Stop,
    StopAfter,
    cli_env,
    default_sigint,
    echofs,
    exists,
    login_with_cli,
    ok_json,
    random_file,
    run_on_a_terminal,
    same_bytes,
)
from tests.support.metrics import metric_sum
from tests.support.waiting import eventually
from tools.cluster import LocalCluster

MiB = 1024 * 1024


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return tmp_path / "config"


async def test_put_get_round_trip_of_a_multi_chunk_file_verifies_sha256(
    cluster: LocalCluster, api: ApiClient, config_dir: Path, tmp_path: Path
) -> None:
    env = await login_with_cli(cluster, config_dir, api)
    home = api.home_bucket
    assert (config_dir / "config.toml").stat().st_mode & 0o777 == 0o600
    source = tmp_path / "big.bin"
    sha = random_file(source, 9 * MiB + 12345)
    uploaded = await echofs(env, "put", str(source), f"{home}/cli/big.bin", "--json",
                             "--chunk-size", str(MiB), "--parallel", "4")
    put = ok_json(uploaded)
    assert uploaded.stderr == ""  # no terminal: no progress bar, no notes
    assert put["receipt"]["sha256"] == sha and put["receipt"]["path"] == "cli/big.bin"
    assert put["receipt"]["bucket"] == home
    assert put["chunks_total"] == 10 and put["chunks_sent"] == 10 and not put["resumed"]

    target = tmp_path / "copy.bin"
    got = ok_json(await echofs(env, "get", f"{home}/cli/big.bin", str(target), "--json",
                                 module=True))
    assert got["sha256"] == sha and got["size"] == source.stat().st_size
    assert await same_bytes(target, source)
    assert not await exists(Path(str(target) + ".part"))

    listing = ok_json(await echofs(env, "--json", "ls", f"{home}/cli/"))
    assert [(e["name"], e["type"], e["size"]) for e in listing["entries"]] == [
        ("big.bin", "file", source.stat().st_size)]
    root = ok_json(await echofs(env, "--json", "ls", home))
    assert [(e["name"], e["type"]) for e in root["entries"]] == [("cli", "dir")]
    info = ok_json(await echofs(env, "stat", f"{home}/cli/big.bin", "--json"))
    assert info["sha256"] == sha and len(info["chunks"]) == 10

    # The same content again: every part is one the cluster already holds for this user.
    again = ok_json(await echofs(env, "put", str(source), f"{home}/cli/again.bin", "--json",
                                   "--chunk-size", str(MiB)))
    assert again["chunks_referenced"] == 10 and again["chunks_sent"] == 0

    assert ok_json(await echofs(env, "rm", f"{home}/cli/big.bin", "--json"))["deleted"]
    gone = await echofs(env, "stat", f"{home}/cli/big.bin")
    assert gone.returncode == 6 and gone.stderr.count("\n") == 1 and "[not_found]" in gone.stderr


async def test_put_stopped_after_three_parts_resumes_sending_only_the_missing_parts(
    cluster: LocalCluster, api: ApiClient, config_dir: Path, tmp_path: Path
) -> None:
    env = await login_with_cli(cluster, config_dir, api)
    home = api.home_bucket
    source = tmp_path / "resume.bin"
    sha = random_file(source, 8 * MiB + 100)
    config = ClientConfig((cluster.master_url,), api.token, None, config_dir)
    async with AsyncClient(config) as client:
        with pytest.raises(Stop):  # one part at a time: exactly three complete
            await client.put(source, f"{home}/cli/resume.bin", parallel=1, progress=StopAfter(3),
                             chunk_size=MiB)
    saved = UploadStateStore(config_dir).find(
        UploadStateStore.key(source, f"{home}/cli/resume.bin", config.urls))
    assert saved is not None
    status, body = await api.get_json(f"/api/v1/files/upload/{saved.session_id}")
    assert status == 200 and sorted(body["data"]["received"]) == [0, 1, 2]

    metrics = f"{cluster.master_url}/metrics"
    bytes_in_before = metric_sum(metrics, "echofs_bytes_in_total")
    result = ok_json(await echofs(env, "put", str(source), f"{home}/cli/resume.bin", "--json"))
    assert result["resumed"] and result["session_id"] == saved.session_id
    assert result["chunks_already_received"] == 3
    assert result["chunks_sent"] == 6 and result["bytes_sent"] == 5 * MiB + 100
    assert metric_sum(metrics, "echofs_bytes_in_total") - bytes_in_before == 5 * MiB + 100
    assert result["receipt"]["sha256"] == sha
    assert UploadStateStore(config_dir).find(
        UploadStateStore.key(source, f"{home}/cli/resume.bin", config.urls)) is None


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["kill", "ctrl-c"])
async def test_put_interrupted_mid_upload_resumes_with_only_the_parts_the_server_lacks(
    cluster: LocalCluster, api: ApiClient, config_dir: Path, tmp_path: Path,
    how: signal.Signals,
) -> None:
    env = await login_with_cli(cluster, config_dir, api)
    home = api.home_bucket
    source = tmp_path / "killed.bin"
    sha = random_file(source, 48 * MiB)
    store = UploadStateStore(config_dir)
    key = UploadStateStore.key(source, f"{home}/cli/killed.bin", (cluster.master_url,))
    process = await asyncio.create_subprocess_exec(
        str(ECHOFS), "put", str(source), f"{home}/cli/killed.bin", "--chunk-size", str(MiB),
        "--parallel", "1", "--json",
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=default_sigint)
    try:
        saved = await eventually(lambda: store.find(key), timeout_s=60, every_s=0.02)
        assert saved is not None
        assert await eventually(lambda: len(_received(api, saved.session_id)) >= 4,
                                timeout_s=120, every_s=0.02)
    finally:
        process.send_signal(how)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    if how == signal.SIGINT:  # Ctrl-C: the documented exit code and one line
        assert process.returncode == 130
        assert stderr.decode().count("\n") == 1 and "interrupted" in stderr.decode()
    # The part in flight when the CLI stopped may still land: wait until the session is
    # still (two reads a second apart agree).
    first: list[int] = []
    for _ in range(60):
        previous, first = first, await asyncio.to_thread(_received, api, saved.session_id)
        if first == previous:
            break
        await asyncio.sleep(1.0)
    assert 4 <= len(first) < 48

    metrics = f"{cluster.master_url}/metrics"
    bytes_in_before = metric_sum(metrics, "echofs_bytes_in_total")
    result = ok_json(await echofs(env, "put", str(source), f"{home}/cli/killed.bin", "--json"))
    assert result["resumed"] and result["chunks_already_received"] == len(first)
    assert result["chunks_sent"] == 48 - len(first)
    assert metric_sum(metrics, "echofs_bytes_in_total") - bytes_in_before == (
        (48 - len(first)) * MiB)
    assert result["receipt"]["sha256"] == sha


def _received(api: ApiClient, session_id: str) -> list[int]:
    """The parts the master has of an upload session (blocking: run from a thread or
    between awaits)."""
    request = urllib.request.Request(f"{api.base_url}/api/v1/files/upload/{session_id}",
                                     headers=api.auth)
    with urllib.request.urlopen(request, timeout=10) as response:
        return sorted(json.load(response)["data"]["received"])


async def test_get_resumes_a_partial_file_and_fetches_only_the_rest(
    cluster: LocalCluster, api: ApiClient, config_dir: Path, tmp_path: Path
) -> None:
    env = await login_with_cli(cluster, config_dir, api)
    home = api.home_bucket
    source = tmp_path / "down.bin"
    sha = random_file(source, 18 * MiB + 5)
    config = ClientConfig((cluster.master_url,), api.token, None, config_dir)
    target = tmp_path / "down-copy.bin"
    async with AsyncClient(config) as client:
        await client.put(source, f"{home}/cli/down.bin")
        with pytest.raises(Stop):  # 4 MiB ranges, one at a time: two are written
            await client.get(f"{home}/cli/down.bin", target, parallel=1, progress=StopAfter(2))
    assert await exists(Path(str(target) + ".part")) and not await exists(target)

    metrics = f"{cluster.master_url}/metrics"
    bytes_out_before = metric_sum(metrics, "echofs_bytes_out_total")
    got = ok_json(await echofs(env, "get", f"{home}/cli/down.bin", str(target), "--json"))
    assert got["resumed"] and got["bytes_fetched"] == 18 * MiB + 5 - 8 * MiB
    assert metric_sum(metrics, "echofs_bytes_out_total") - bytes_out_before == (
        18 * MiB + 5 - 8 * MiB)
    assert got["sha256"] == sha and await same_bytes(target, source)
    assert not await exists(Path(str(target) + ".part"))
    assert not await exists(Path(str(target) + ".part.json"))


async def test_errors_are_one_line_with_their_exit_code(
    cluster: LocalCluster, api: ApiClient, config_dir: Path, tmp_path: Path
) -> None:
    bad_token = cli_env(cluster, config_dir, ECHOFS_TOKEN="not-a-token")
    result = await echofs(bad_token, "ls")
    assert result.returncode == 4
    assert result.stderr.count("\n") == 1 and "[unauthenticated]" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    as_json = await echofs(bad_token, "ls", "--json", module=True)
    assert as_json.returncode == 4
    assert json.loads(as_json.stderr)["code"] == "unauthenticated"

    profile = (await api.get_json("/api/v1/auth/profile"))[1]["data"]
    wrong = await echofs(cli_env(cluster, config_dir), "login", profile["username"],
                          "--password-stdin", stdin="wrong-password\n")
    assert wrong.returncode == 4 and wrong.stderr.count("\n") == 1
    assert not (config_dir / "config.toml").exists()

    env = await login_with_cli(cluster, config_dir, api)
    home = api.home_bucket
    missing = await echofs(env, "get", f"{home}/cli/no-such-file", str(tmp_path / "x"))
    assert missing.returncode == 6 and "[not_found]" in missing.stderr
    no_local = await echofs(env, "put", str(tmp_path / "absent.bin"), f"{home}/cli/absent.bin")
    assert no_local.returncode == 6 and no_local.stderr.count("\n") == 1
    nobody = await echofs(cli_env(cluster, config_dir, ECHOFS_URL="http://127.0.0.1:9"),
                           "status")
    assert nobody.returncode == 12 and "[connection_failed]" in nobody.stderr



async def test_paths_name_their_bucket_and_a_strangers_bucket_is_not_found(
    cluster: LocalCluster, api: ApiClient, config_dir: Path, tmp_path: Path
) -> None:
    env = await login_with_cli(cluster, config_dir, api)
    home = api.home_bucket
    second = f"cli-{home[:20]}-two"
    assert (await api.call("POST", "/api/v1/buckets", json={"name": second}))[0] == 201
    source = tmp_path / "two.bin"
    sha = random_file(source, 2 * MiB + 7)
    put = ok_json(await echofs(env, "put", str(source), f"{second}/docs/", "--json",
                               "--chunk-size", str(MiB)))
    assert (put["receipt"]["bucket"], put["receipt"]["path"]) == (second, "docs/two.bin")
    status, data, _ = await api.read(second, "docs/two.bin")
    assert status == 200 and hashlib.sha256(data).hexdigest() == sha
    assert (await api.read(home, "docs/two.bin"))[0] == 404
    listing = ok_json(await echofs(env, "ls", f"{second}/docs", "--json"))
    assert [e["name"] for e in listing["entries"]] == ["two.bin"]
    buckets = ok_json(await echofs(env, "ls", "--json"))["buckets"]
    assert sorted(b["name"] for b in buckets) == sorted([home, second])
    info = ok_json(await echofs(env, "stat", f"{second}/docs/two.bin", "--json"))
    assert (info["bucket"], info["sha256"], len(info["chunks"])) == (second, sha, 3)

    stranger = ApiClient(api.base_url, api.session)
    await stranger.register_and_login()
    theirs = cli_env(cluster, config_dir, ECHOFS_TOKEN=stranger.token)
    for args in (("ls", f"{second}/docs"), ("stat", f"{second}/docs/two.bin"),
                 ("get", f"{second}/docs/two.bin", str(tmp_path / "stolen")),
                 ("put", str(source), f"{home}/stolen.bin"), ("rm", f"{home}/x")):
        result = await echofs(theirs, *args)
        assert result.returncode == 6 and "[not_found]" in result.stderr, args
    bare = await echofs(env, "get", second, str(tmp_path / "bare"))
    assert bare.returncode == 3 and "bucket/path" in bare.stderr

async def test_status_and_logout_speak_json(
    cluster: LocalCluster, api: ApiClient, config_dir: Path
) -> None:
    env = await login_with_cli(cluster, config_dir, api)
    home = api.home_bucket
    status = ok_json(await echofs(env, "status", "--json"))
    assert status["health"]["status"] in {"ok", "degraded"}
    assert status["health"]["workers_total"] == 3 and len(status["workers"]) == 3
    assert {w["state"] for w in status["workers"]} <= {"healthy", "suspect", "down"}
    # A dead master first in the list: the next one answers.
    failover = {**env, "ECHOFS_URL": f"http://127.0.0.1:9,{cluster.master_url}"}
    buckets = ok_json(await echofs(failover, "ls", "--json"))["buckets"]
    assert [(b["name"], b["permission"]) for b in buckets] == [(home, "owner")]
    assert ok_json(await echofs(env, "logout", "--json"))["logged_out"] is True
    assert "token" not in (config_dir / "config.toml").read_text()
    after = await echofs(env, "ls")
    assert after.returncode == 4 and "echofs login" in after.stderr


async def test_a_terminal_gets_a_progress_bar_with_bytes_and_rate(
    cluster: LocalCluster, api: ApiClient, config_dir: Path, tmp_path: Path
) -> None:
    env = await login_with_cli(cluster, config_dir, api)
    home = api.home_bucket
    source = tmp_path / "bar.bin"
    random_file(source, 6 * MiB)
    code, stdout, shown = await asyncio.to_thread(
        run_on_a_terminal, [str(ECHOFS), "put", str(source), f"{home}/cli/bar.bin", "--json"], env)
    assert code == 0 and json.loads(stdout)["receipt"]["size"] == 6 * MiB
    # --json keeps the terminal quiet too; without it the bar shows bytes and rate.
    assert shown == ""
    code, stdout, shown = await asyncio.to_thread(
        run_on_a_terminal, [str(ECHOFS), "get", f"{home}/cli/bar.bin", str(tmp_path / "bar-copy")],
        env)
    assert code == 0 and f"downloaded {home}/cli/bar.bin" in stdout
    assert "6.3 MB" in shown or "6.3/6.3 MB" in shown, shown
    assert "/s" in shown and "\x1b[" in shown  # a rate, drawn with terminal escapes


async def test_debug_shows_the_traceback_that_is_otherwise_hidden(
    cluster: LocalCluster, config_dir: Path
) -> None:
    env = cli_env(cluster, config_dir, ECHOFS_TOKEN="not-a-token")
    quiet = await echofs(env, "stat", "some-bucket/x")
    loud = await echofs(env, "--debug", "stat", "some-bucket/x")
    assert quiet.returncode == loud.returncode == 4
    assert "Traceback" not in quiet.stderr and "Traceback" in loud.stderr
