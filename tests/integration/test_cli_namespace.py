"""The namespace and bucket commands of ``echofs`` (DESIGN §11, §14) as a real subprocess
against a real cluster: each command's ``--json`` is exactly the SDK's typed result (and
equal to what the SDK answers for read-only commands), and each error path tested is
one line on stderr with the documented exit code (``client/exit_codes.py``)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from client import AsyncClient
from client.config import ClientConfig
from client.models import (
    BucketEntry,
    ClusterHealth,
    DeleteResult,
    DirEntry,
    DownloadResult,
    FileInfo,
    Login,
    UploadResult,
    WorkerHealth,
)
from client.models_ops import (
    BucketRemoval,
    MkdirResult,
    PathOpResult,
    RestoreResult,
    TreeRemoval,
    TreeResult,
    VersionEntry,
)
from tests.support.api import ApiClient
from tests.support.cli import (
    PASSWORD,
    cli_env,
    conforms,
    echofs,
    echofs_in_process,
    failed_one_line,
    login_with_cli,
    ok_json,
)
from tools.cluster import LocalCluster


def _each(model: type, items: list[object]) -> None:
    assert isinstance(items, list)
    for item in items:
        conforms(model, item)


async def test_every_command_speaks_the_sdks_types_in_json(
    cluster: LocalCluster, api: ApiClient, tmp_path: Path
) -> None:
    config_dir = tmp_path / "config"
    env = await login_with_cli(cluster, config_dir, api)
    profile = (await api.get_json("/api/v1/auth/profile"))[1]["data"]
    again = ok_json(await echofs(env, "login", profile["username"], "--password-stdin",
                                 "--json", stdin=PASSWORD + "\n"))
    conforms(Login, again, omit=frozenset({"token"}), extra=frozenset({"config", "urls"}))
    sdk = AsyncClient(ClientConfig((cluster.master_url,), api.token, None, None))
    bucket = f"ns-{uuid.uuid4().hex[:10]}"
    async with sdk:
        made = ok_json(await echofs(env, "bucket", "create", bucket, "--versioning",
                                    "--keep-versions", "5", "--json"))
        conforms(BucketEntry, made)
        assert (made["name"], made["versioning"], made["keep_versions"]) == (bucket, True, 5)
        changed = ok_json(await echofs(env, "bucket", "set", bucket, "--keep-days", "30",
                                       "--keep-versions", "none", "--json"))
        assert (changed["keep_days"], changed["keep_versions"]) == (30, None)
        info = ok_json(await echofs(env, "bucket", "info", bucket, "--json"))
        assert info == (await sdk.bucket(bucket)).to_json()
        listed = ok_json(await echofs(env, "bucket", "ls", "--json"))
        _each(BucketEntry, listed["buckets"])
        assert listed["buckets"] == [b.to_json() for b in await sdk.buckets()]
        assert ok_json(await echofs(env, "ls", "--json")) == listed

        local = tmp_path / "doc.txt"
        for content in (b"first\n", b"second!\n"):
            local.write_bytes(content)
            put = ok_json(await echofs(env, "put", str(local), f"{bucket}/docs/", "--json"))
            conforms(UploadResult, put)
            assert put["receipt"]["path"] == "docs/doc.txt"
        dirs = ok_json(await echofs(env, "mkdir", f"{bucket}/a/b", f"{bucket}/docs", "--json"))
        _each(MkdirResult, dirs["directories"])
        assert [d["created"] for d in dirs["directories"]] == [True, False]
        copied = ok_json(await echofs(env, "cp", f"{bucket}/docs", f"{bucket}/a/", "--json"))
        conforms(PathOpResult, copied)
        assert copied == {"op": "copy", "source": f"{bucket}/docs", "target": f"{bucket}/a/docs",
                          "files": 1}
        moved = ok_json(await echofs(env, "mv", f"{bucket}/a/docs/doc.txt",
                                     f"{bucket}/a/b/moved.txt", "--json"))
        assert (moved["op"], moved["files"]) == ("move", 1)

        listing = ok_json(await echofs(env, "ls", f"{bucket}/a", "--json"))
        _each(DirEntry, listing["entries"])
        assert listing["entries"] == [e.to_json() for e in await sdk.ls(f"{bucket}/a")]
        deep = ok_json(await echofs(env, "ls", "-r", bucket, "--json"))
        assert [(e["name"], e["type"]) for e in deep["entries"]] == [
            ("a", "dir"), ("a/b", "dir"), ("a/b/moved.txt", "file"), ("a/docs", "dir"),
            ("docs", "dir"), ("docs/doc.txt", "file")]
        stat = ok_json(await echofs(env, "stat", f"{bucket}/docs/doc.txt", "--json"))
        conforms(FileInfo, stat)
        assert stat == (await sdk.info(f"{bucket}/docs/doc.txt")).to_json()

        history = ok_json(await echofs(env, "versions", f"{bucket}/docs/doc.txt", "--json"))
        _each(VersionEntry, history["versions"])
        assert history["versions"] == [
            v.to_json() for v in await sdk.versions(f"{bucket}/docs/doc.txt")]
        assert [(v["size"], v["current"]) for v in history["versions"]] == [(8, True),
                                                                           (6, False)]
        oldest = history["versions"][-1]["version_id"]
        old = ok_json(await echofs(env, "get", f"{bucket}/docs/doc.txt",
                                   str(tmp_path / "old.txt"), "--version-id", oldest, "--json"))
        conforms(DownloadResult, old)
        assert (tmp_path / "old.txt").read_bytes() == b"first\n"
        restored = ok_json(await echofs(env, "restore", f"{bucket}/docs/doc.txt", oldest,
                                        "--json"))
        conforms(RestoreResult, restored)
        status, data, _ = await api.read(bucket, "docs/doc.txt")
        assert (status, data) == (200, b"first\n")

        removed = ok_json(await echofs(env, "rm", f"{bucket}/docs/doc.txt", "--json"))
        _each(DeleteResult, removed["deleted"])
        assert removed["trees"] == []
        tree = ok_json(await echofs(env, "rm", "-r", f"{bucket}/a", "--json"))
        assert tree["deleted"] == []
        _each(TreeRemoval, tree["trees"])
        assert tree["trees"][0]["task"]["state"] == "done"
        assert tree["trees"][0]["task"]["done"] == 1
        assert [e.name for e in await sdk.ls(bucket)] == ["docs"]

        cluster_status = ok_json(await echofs(env, "status", "--json"))
        conforms(ClusterHealth, cluster_status["health"])
        _each(WorkerHealth, cluster_status["workers"])

        gone = ok_json(await echofs(env, "bucket", "rm", bucket, "-r", "--json"))
        conforms(BucketRemoval, gone)
        assert gone["task"]["state"] == "done"
        assert bucket not in [b.name for b in await sdk.buckets()]
        empty = f"{bucket}-e"
        ok_json(await echofs(env, "bucket", "create", empty, "--json"))
        assert ok_json(await echofs(env, "bucket", "rm", empty, "--json")) == {
            "name": empty, "task": None}


async def test_error_paths_are_one_line_with_their_documented_exit_codes(
    cluster: LocalCluster, api: ApiClient, tmp_path: Path
) -> None:
    env = await login_with_cli(cluster, tmp_path / "config", api)
    home = api.home_bucket
    other = f"err-{uuid.uuid4().hex[:10]}"
    local = tmp_path / "f.txt"
    local.write_bytes(b"data\n")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_bytes(b"a")
    (tree / "sub" / "b.txt").write_bytes(b"b")
    ok_json(await echofs(env, "put", str(local), f"{home}/e/f.txt", "--json"))
    ok_json(await echofs(env, "put", str(local), f"{home}/e/g.txt", "--json"))
    ok_json(await echofs(env, "bucket", "create", other, "--json"))
    ok_json(await echofs(env, "put", str(local), f"{other}/x.txt", "--json"))
    ok_json(await echofs(env, "mkdir", f"{home}/pr/a.txt", "--json"))  # a dir where a file goes

    cases: list[tuple[tuple[str, ...], int, str]] = [
        (("mv", f"{home}/e/f.txt", f"{home}/e/g.txt"), 7, "conflict"),
        (("cp", f"{home}/e", f"{home}/e/inner"), 3, "invalid_input"),
        (("mkdir", f"{home}/e/f.txt"), 7, "conflict"),
        (("mkdir", home), 3, "bad_path"),
        (("versions", f"{home}/e/none"), 6, "not_found"),
        (("restore", f"{home}/e/f.txt", str(uuid.uuid4())), 6, "not_found"),
        (("get", f"{home}/e/f.txt", str(tmp_path / "v"), "--version-id", str(uuid.uuid4())),
         6, "not_found"),
        (("rm", "-r", f"{home}/no-such-dir"), 6, "not_found"),
        (("rm", "-r", home), 3, "invalid_input"),
        (("get", "-r", f"{home}/no-such-dir", str(tmp_path / "out")), 6, "not_found"),
        (("put", "-r", str(local), f"{home}/t"), 3, "invalid_input"),
        (("put", "-r", str(tree), f"{home}/e/f.txt"), 3, "invalid_input"),
        (("put", str(tree), f"{home}/t"), 2, "usage"),
        (("get", "-r", f"{home}/e", str(tmp_path / "o"), "--version-id", "x"), 2, "usage"),
        (("put", "--bwlimit", "fast", str(local), f"{home}/b.txt"), 3, "invalid_input"),
        (("bucket", "create", other), 7, "bucket_exists"),
        (("bucket", "create", "Not_A_Name"), 3, "invalid_input"),
        (("bucket", "rm", other), 7, "bucket_not_empty"),
        (("bucket", "rm", home), 7, "conflict"),
        (("bucket", "set", other), 2, "usage"),
        (("bucket", "info", f"{other}-none"), 6, "not_found"),
        (("put", "-r", str(tree), f"{home}/pr"), 15, "incomplete"),
    ]
    for i, (args, exit_code, code) in enumerate(cases):
        # Each case through the command's entry point in this process (no Python start
        # per case); a sample of them as the installed command, in a process of its own.
        failed_one_line(await echofs_in_process(env, *args), exit_code, code)
        if i % 4 == 0:  # with --json, the line is JSON (a sample: each run costs a start)
            failed_one_line(await echofs(env, *args), exit_code, code)
            as_json = await echofs(env, "--json", *args)
            assert as_json.returncode == exit_code, args
            assert json.loads(as_json.stderr)["code"] == code, args

    # The partial failure still reported its result, listing the file that failed.
    partial = await echofs(env, "--json", "put", "-r", str(tree), f"{home}/pr")
    report = json.loads(partial.stdout)
    conforms(TreeResult, report)
    assert [(f["path"], f["code"]) for f in report["failed"]] == [("a.txt", "conflict")]
    assert report["files_skipped"] == 1  # sub/b.txt went up the first time

    stranger = ApiClient(api.base_url, api.session)
    await stranger.register_and_login()
    theirs = cli_env(cluster, tmp_path / "config", ECHOFS_TOKEN=stranger.token)
    for args in (("bucket", "info", other), ("bucket", "set", other, "--versioning", "on"),
                 ("bucket", "rm", other, "-r"), ("versions", f"{other}/x.txt"),
                 ("mv", f"{other}/x.txt", f"{other}/y.txt"), ("mkdir", f"{other}/d"),
                 ("get", "-r", other, str(tmp_path / "stolen"))):
        failed_one_line(await echofs_in_process(theirs, *args), 6, "not_found")


async def test_rm_r_without_waiting_returns_a_task_that_finishes(
    cluster: LocalCluster, api: ApiClient, tmp_path: Path
) -> None:
    env = await login_with_cli(cluster, tmp_path / "config", api)
    home = api.home_bucket
    local = tmp_path / "f.txt"
    local.write_bytes(b"x")
    for i in range(3):
        ok_json(await echofs(env, "put", str(local), f"{home}/nw/{i}.txt", "--json"))
    started = ok_json(await echofs(env, "rm", "-r", f"{home}/nw", "--no-wait", "--json"))
    task = started["trees"][0]["task"]
    assert (task["state"], task["total"]) == ("running", 3)
    async with AsyncClient(ClientConfig((cluster.master_url,), api.token, None, None)) as sdk:
        final = await sdk.wait_task(await sdk.task(task["task_id"]), poll_s=0.1)
        assert (final.state, final.done) == ("done", 3)
        assert [e.name for e in await sdk.ls(home)] == []
