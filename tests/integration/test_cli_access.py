"""The access and change-feed commands of ``echofs`` (DESIGN §12-§14) as a real
subprocess against a real cluster: shares, groups, API keys (and logging in with one),
links, quotas and ``watch``. Each command's ``--json`` is exactly the SDK's typed result
(equal to the SDK's answer for read-only ones); each error path tested is one line on
stderr with the documented exit code (``client/exit_codes.py``)."""

from __future__ import annotations

import asyncio
import json
import signal
import stat
import subprocess
import uuid
from pathlib import Path

from client import AsyncClient
from client.config import ClientConfig
from client.models import Profile
from client.models_access import (
    ApiKey,
    Event,
    Group,
    Link,
    Membership,
    NewApiKey,
    NewLink,
    QuotaUsage,
    Share,
    ShareRemoval,
)
from tests.integration.conftest import ADMIN
from tests.support.access import admin_client, new_user
from tests.support.api import ApiClient
from tests.support.cli import (
    ECHOFS,
    cli_env,
    conforms,
    default_sigint,
    echofs,
    echofs_in_process,
    failed_one_line,
    login_with_cli,
    ok_json,
)
from tests.support.links import anon_get, error_code
from tools.cluster import LocalCluster


def _each(model: type, items: list[object]) -> None:
    assert isinstance(items, list)
    for item in items:
        conforms(model, item)


def _sdk(cluster: LocalCluster, token: str | None) -> AsyncClient:
    return AsyncClient(ClientConfig((cluster.master_url,), token, None, None))


async def test_access_commands_speak_the_sdks_types_in_json(
    cluster: LocalCluster, api: ApiClient, tmp_path: Path
) -> None:
    env = await login_with_cli(cluster, tmp_path / "config", api)
    home = api.home_bucket
    friend, friend_name = await new_user(cluster.master_url, api.session, "fr")
    admin = await admin_client(cluster.master_url, api.session, ADMIN)
    team = f"team-{uuid.uuid4().hex[:8]}"
    async with _sdk(cluster, api.token) as sdk:
        await sdk.put_file(f"{home}/shared/f.txt", b"hello links\n")

        made = ok_json(await echofs(env, "group", "create", team, "--json"))
        conforms(Group, made)
        added = ok_json(await echofs(env, "group", "add-member", team, friend_name, "--json"))
        conforms(Membership, added)
        assert (added["member"], added["changed"]) == (True, True)
        groups = ok_json(await echofs(env, "group", "ls", "--json"))
        _each(Group, groups["groups"])
        assert groups["groups"] == [g.to_json() for g in await sdk.groups()]
        assert [g["members"] for g in groups["groups"] if g["name"] == team] == [[friend_name]]

        shared = ok_json(await echofs(env, "share", "add", home, "rw", "--user", friend_name,
                                      "--json"))
        conforms(Share, shared)
        assert (shared["grantee_kind"], shared["grantee"], shared["permission"]) == (
            "user", friend_name, "rw")
        conforms(Share, ok_json(await echofs(env, "bucket", "share", "add", home, "ro",
                                             "-g", team, "--json")))
        listed = ok_json(await echofs(env, "share", "ls", home, "--json"))
        _each(Share, listed["shares"])
        assert listed["shares"] == [s.to_json() for s in await sdk.shares(home)]
        assert sorted((s["grantee_kind"], s["permission"]) for s in listed["shares"]) == [
            ("group", "ro"), ("user", "rw")]
        async with _sdk(cluster, friend.token) as theirs:  # the share is in force
            assert await theirs.stat(f"{home}/shared/f.txt")
        removed = ok_json(await echofs(env, "share", "rm", home, "--user", friend_name,
                                       "--json"))
        conforms(ShareRemoval, removed)
        gone = ok_json(await echofs(env, "group", "rm-member", team, friend_name, "--json"))
        assert (gone["member"], gone["changed"]) == (False, True)

        key = ok_json(await echofs(env, "key", "create", "ci", "-p", "ro", "-b", home,
                                   "--expires", "1h", "--json"))
        conforms(NewApiKey, key)
        assert key["token"].startswith("efk_") and key["key"]["buckets"] == [home]
        keys = ok_json(await echofs(env, "key", "ls", "--json"))
        _each(ApiKey, keys["keys"])
        assert keys["keys"] == [k.to_json() for k in await sdk.keys()]
        assert all("secret" not in k and "token" not in k for k in keys["keys"])
        revoked = ok_json(await echofs(env, "key", "revoke", key["key"]["key_id"], "--json"))
        conforms(ApiKey, revoked)
        assert revoked["state"] == "revoked"

        link = ok_json(await echofs(env, "link", "create", f"{home}/shared/f.txt",
                                    "--expires", "10m", "--uses", "3", "--json"))
        conforms(NewLink, link)
        assert link["download_url"] == cluster.master_url + link["url"]
        assert link["url"].startswith("/d/") and link["max_uses"] == 3
        text = await echofs(env, "link", "create", f"{home}/shared/f.txt")
        assert text.returncode == 0 and text.stdout.startswith(f"{cluster.master_url}/d/")
        links = ok_json(await echofs(env, "link", "ls", "--json"))
        _each(Link, links["links"])
        assert links["links"] == [x.to_json() for x in await sdk.links()]
        assert all(link["url"] not in json.dumps(x) for x in links["links"])
        unlinked = ok_json(await echofs(env, "link", "revoke", link["link_id"], "--json"))
        conforms(Link, unlinked)
        assert unlinked["state"] == "revoked"

        quota = ok_json(await echofs(env, "bucket", "quota", "set", "--bucket", home,
                                     "--bytes", "1M", "--files", "10", "--json"))
        conforms(QuotaUsage, quota)
        assert (quota["quota_bytes"], quota["quota_files"], quota["files"]) == (
            1024 * 1024, 10, 1)
        shown = ok_json(await echofs(env, "quota", "show", "--json"))
        conforms(QuotaUsage, shown["user"])
        _each(QuotaUsage, shown["buckets"])
        assert shown["user"] == (await sdk.usage()).to_json()
        assert [b["name"] for b in shown["buckets"]] == [home]
        admin_env = cli_env(cluster, tmp_path / "admin", ECHOFS_TOKEN=admin.token)
        capped = ok_json(await echofs(admin_env, "quota", "set", "--user", friend_name,
                                      "--bytes", "5G", "--files", "none", "--json"))
        conforms(QuotaUsage, capped)
        assert (capped["name"], capped["quota_bytes"], capped["quota_files"]) == (
            friend_name, 5 * 1024**3, None)

        # A group quota over the buckets charged to the group (the team's creator charges
        # its home bucket, holding f.txt, to it).
        charged = ok_json(await echofs(env, "bucket", "set", home, "--group", team, "--json"))
        assert charged == (await sdk.bucket(home)).to_json() and charged["group"] == team
        team_quota = ok_json(await echofs(admin_env, "quota", "set", "--group", team,
                                          "--bytes", "2G", "--json"))
        conforms(QuotaUsage, team_quota)
        assert (team_quota["scope"], team_quota["name"], team_quota["quota_bytes"],
                team_quota["files"]) == ("group", team, 2 * 1024**3, 1)
        uncharged = ok_json(await echofs(env, "bucket", "set", home, "--group", "none",
                                         "--json"))
        assert uncharged["group"] is None


async def test_access_error_paths_are_one_line_with_their_documented_exit_codes(
    cluster: LocalCluster, api: ApiClient, tmp_path: Path
) -> None:
    env = await login_with_cli(cluster, tmp_path / "config", api)
    home = api.home_bucket
    friend, friend_name = await new_user(cluster.master_url, api.session, "fr")
    theirs = cli_env(cluster, tmp_path / "friend", ECHOFS_TOKEN=friend.token)
    local = tmp_path / "f.txt"
    local.write_bytes(b"data\n")
    ok_json(await echofs(env, "put", str(local), f"{home}/f.txt", "--json"))
    ok_json(await echofs(env, "share", "add", home, "ro", "--user", friend_name, "--json"))
    cases: list[tuple[dict[str, str], tuple[str, ...], int, str]] = [
        # the bucket is shared ro with the friend: reading works, anything more is 403
        (theirs, ("put", str(local), f"{home}/mine.txt"), 5, "forbidden"),
        (theirs, ("share", "add", home, "rw", "--user", friend_name), 5, "forbidden"),
        (theirs, ("link", "ls", "--bucket", home), 5, "forbidden"),
        (theirs, ("share", "ls", friend.home_bucket + "-none"), 6, "not_found"),
        (env, ("share", "add", friend.home_bucket, "ro", "--user", friend_name), 6,
         "not_found"),
        (env, ("quota", "set", "--user", friend_name, "--bytes", "1G"), 5, "forbidden"),
        (env, ("quota", "set", "--group", "nobody-s-group", "--bytes", "1G"), 5, "forbidden"),
        (env, ("share", "add", home, "rw"), 2, "usage"),
        (env, ("share", "add", home, "all", "--user", friend_name), 2, "usage"),
        (env, ("quota", "set", "--bucket", home), 2, "usage"),
        (env, ("quota", "set", "--bucket", home, "--bytes", "lots"), 3, "invalid_input"),
        (env, ("key", "create", "k", "--expires", "soon"), 3, "invalid_input"),
        (env, ("key", "create", "k", "-p", "admin"), 5, "forbidden"),
        (env, ("key", "revoke", "EKAAAAAAAAAAAAAAAAAA"), 6, "not_found"),
        (env, ("link", "revoke", str(uuid.uuid4())), 6, "not_found"),
        (env, ("link", "create", f"{home}/none.txt"), 6, "not_found"),
        (env, ("group", "add-member", "no-such-group", friend_name), 6, "not_found"),
        (env, ("watch", f"no-such-{uuid.uuid4().hex[:8]}"), 6, "not_found"),
        (env, ("watch", home, "--types", "file.exploded"), 3, "invalid_input"),
    ]
    for i, (who, args, exit_code, code) in enumerate(cases):
        # Each case through the command's entry point in this process (no Python start
        # per case); a sample of them as the installed command, in a process of its own.
        failed_one_line(await echofs_in_process(who, *args), exit_code, code)
        if i % 5 == 0:  # with --json, the line is JSON (a sample: each run costs a start)
            failed_one_line(await echofs(who, *args), exit_code, code)
            as_json = await echofs(who, "--json", *args)
            assert as_json.returncode == exit_code, args
            assert json.loads(as_json.stderr)["code"] == code, args

    # A quota is enforced on the next upload: 507 quota_exceeded, exit 10.
    ok_json(await echofs(env, "quota", "set", "--bucket", home, "--files", "1", "--json"))
    failed_one_line(await echofs(env, "put", str(local), f"{home}/second.txt"), 10,
                    "quota_exceeded")

    # A single-use link serves the file once, then says 410 link_used.
    link = ok_json(await echofs(env, "link", "create", f"{home}/f.txt", "--uses", "1",
                                "--json"))
    status, body, _ = await anon_get(api.session, cluster.master_url, link["url"])
    assert (status, body) == (200, b"data\n")
    status, body, _ = await anon_get(api.session, cluster.master_url, link["url"])
    assert (status, error_code(body)) == (410, "link_used")


async def test_login_with_an_api_key_until_it_is_revoked(
    cluster: LocalCluster, api: ApiClient, tmp_path: Path
) -> None:
    env = await login_with_cli(cluster, tmp_path / "config", api)
    home = api.home_bucket
    key = ok_json(await echofs(env, "key", "create", "laptop", "--json"))
    key_dir = tmp_path / "key-config"
    key_env = cli_env(cluster, key_dir)
    logged_in = ok_json(await echofs(key_env, "login", "--api-key-stdin", "--json",
                                     stdin=key["token"] + "\n"))
    conforms(Profile, logged_in, extra=frozenset({"config", "urls"}))
    assert logged_in["home_bucket"] == home
    saved = Path(logged_in["config"])
    assert stat.S_IMODE((await asyncio.to_thread(saved.stat)).st_mode) == 0o600
    assert key["token"] in await asyncio.to_thread(saved.read_text)
    assert ok_json(await echofs(key_env, "ls", home, "--json"))["entries"] == []
    # Keys are managed with a password login only: a key cannot mint another.
    failed_one_line(await echofs(key_env, "key", "create", "more"), 5, "forbidden")

    ok_json(await echofs(env, "key", "rm", key["key"]["key_id"], "--json"))
    failed_one_line(await echofs(key_env, "ls", home), 4, "unauthenticated")
    before = await asyncio.to_thread(saved.read_text)
    failed_one_line(await echofs(key_env, "login", "--api-key-stdin", stdin=key["token"]),
                    4, "unauthenticated")
    assert await asyncio.to_thread(saved.read_text) == before  # a refused key is not stored
    failed_one_line(await echofs(key_env, "login", "--api-key-stdin", stdin="\n"), 3,
                    "invalid_input")


async def test_watch_prints_a_put_made_while_it_runs_and_ctrl_c_exits_0(
    cluster: LocalCluster, api: ApiClient, tmp_path: Path
) -> None:
    env = await login_with_cli(cluster, tmp_path / "config", api)
    home = api.home_bucket
    async with _sdk(cluster, api.token) as sdk:
        start = (await sdk.events(home)).last_id
        process = await asyncio.create_subprocess_exec(
            str(ECHOFS), "watch", f"{home}/in/", "--after", str(start), "--json", env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=default_sigint)
        try:
            await sdk.put_file(f"{home}/out/skipped.txt", b"not below the prefix")
            await sdk.put_file(f"{home}/in/new.txt", b"watched\n")
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
        finally:
            process.send_signal(signal.SIGINT)
            _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    event = json.loads(line)
    conforms(Event, event)
    assert (event["type"], event["bucket"], event["path"], event["size"]) == (
        "file.created", home, "in/new.txt", 8)
    assert process.returncode == 0, stderr
    assert b"Traceback" not in stderr

    # Resuming from the same cursor finds both events (and --count ends the watch).
    again = await echofs(env, "watch", home, "--after", str(start), "--count", "2",
                         "--types", "file.created", "--json")
    assert again.returncode == 0, again.stderr
    resumed = [json.loads(x) for x in again.stdout.splitlines()]
    _each(Event, resumed)
    assert [e["path"] for e in resumed] == ["out/skipped.txt", "in/new.txt"]
    assert resumed[1] == event
    text = await echofs(env, "watch", home, "--after", str(start), "--count", "2",
                        "--types", "file.created")
    assert text.returncode == 0, text.stderr
    assert [x.split()[2:4] for x in text.stdout.splitlines()] == [
        ["file.created", f"{home}/out/skipped.txt"], ["file.created", f"{home}/in/new.txt"]]
