"""Download links on a real cluster (DESIGN §12, issue 17 must-show 3 and 4): a single-use
link under 50 concurrent GETs is served once; expiry, revocation (on every master),
HEAD and Range behave as documented; a link pins its version; bad input is a 400; the
audit log holds creations and revocations; no token reaches a log line.

Two masters share the cluster, both logging at DEBUG; every token made here is kept in
``TOKENS`` and the last test greps both masters' logs for them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from tests.integration.conftest import ADMIN
from tests.support.access import admin_client
from tests.support.api import ApiClient
from tests.support.clusters import module_cluster
from tests.support.db import query
from tests.support.links import anon_get, error_code, link_uses, master_logs, wait_healthy
from tools.cluster import LocalCluster

pytestmark = pytest.mark.timeout(300)

MiB = 1024 * 1024
MAX_EXPIRY_S = 600
TOKENS: list[str] = []  # every token this module made, for the log check at the end


@pytest.fixture(scope="module")
def cluster(pg_server_url: str, redis_url: str) -> Iterator[LocalCluster]:
    env = {"ADMIN_USERS": ADMIN, "LOG_LEVEL": "DEBUG", "LINK_MAX_EXPIRY_S": str(MAX_EXPIRY_S),
           "READ_TIMEOUT_SECONDS": "1"}  # a frozen worker's read fails fast
    with module_cluster(pg_server_url, redis_url, "links", workers=3, chunk_size=1 * MiB,
                        master_env=env) as running:
        running.start_master(name="master-b")
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as opened:
        yield opened


@pytest.fixture
async def api(cluster: LocalCluster, session: aiohttp.ClientSession) -> ApiClient:
    client = ApiClient(cluster.master_url, session)
    await client.register_and_login()
    return client




async def _upload(api: ApiClient, path: str, size: int, bucket: str | None = None) -> bytes:
    data = os.urandom(size)
    status, body = await api.upload_raw(data, path, bucket=bucket)
    assert status == 201, body
    return data


async def _link(api: ApiClient, path: str, **fields: Any) -> dict[str, Any]:
    status, body = await api.call("POST", "/api/v1/links",
                                  json={"path": path, "expires_in_s": 300, **fields})
    assert status == 201, body
    data: dict[str, Any] = body["data"]
    assert data["url"].startswith("/d/")
    TOKENS.append(data["url"][len("/d/"):])
    return data








async def test_a_single_use_link_under_50_concurrent_gets_is_served_exactly_once(
    cluster: LocalCluster, api: ApiClient, session: aiohttp.ClientSession,
) -> None:
    data = await _upload(api, "links/once.bin", MiB + 12345)  # two chunks
    link = await _link(api, f"{api.home_bucket}/links/once.bin", max_uses=1)
    masters = [cluster.master_url, cluster.extra_master_urls["master-b"]]
    # 50 connections opened beforehand (HEADs take no use), so the 50 GETs leave at once
    # on open connections and meet in the masters, not one after another in connects.
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as burst:
        warm = await asyncio.gather(*(anon_get(burst, masters[i % 2], link["url"], "HEAD")
                                      for i in range(50)))
        assert {status for status, _, _ in warm} == {200}
        results = await asyncio.gather(*(anon_get(burst, masters[i % 2], link["url"])
                                         for i in range(50)))
    served = [body for status, body, _ in results if status == 200]
    refused = [(status, error_code(body)) for status, body, _ in results if status != 200]
    assert len(served) == 1 and served[0] == data
    assert refused == [(410, "link_used")] * 49
    for method in ("GET", "HEAD"):
        status, _, _ = await anon_get(session, masters[1], link["url"], method)
        assert status == 410, method
    assert await link_uses(api, link["link_id"]) == 1


async def test_head_takes_no_use_and_ranges_read_the_right_bytes(
    cluster: LocalCluster, api: ApiClient, session: aiohttp.ClientSession,
) -> None:
    data = await _upload(api, "links/ranged.bin", 2 * MiB + 77)
    link = await _link(api, f"{api.home_bucket}/links/ranged.bin", max_uses=3)
    url, base = link["url"], cluster.master_url
    for _ in range(3):
        status, body, headers = await anon_get(session, base, url, "HEAD")
        assert (status, body) == (200, b"")
        assert int(headers["Content-Length"]) == len(data)
        assert headers["Cache-Control"] == "no-store"
    etag = f'"{hashlib.sha256(data).hexdigest()}"'
    status, _, _ = await anon_get(session, base, url, **{"If-None-Match": etag})
    assert status == 304
    status, body, _ = await anon_get(session, base, url, Range=f"bytes={len(data)}-")
    assert (status, error_code(body)) == (416, "range_not_satisfiable")
    assert await link_uses(api, link["link_id"]) == 0  # HEAD, 304 and 416 sent no bytes

    status, body, headers = await anon_get(session, base, url, Range="bytes=100-199")
    assert (status, body) == (206, data[100:200])
    assert headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    across = f"bytes={MiB - 10}-{MiB + 9}"  # spans the first chunk boundary
    status, body, _ = await anon_get(session, base, url, Range=across)
    assert (status, body) == (206, data[MiB - 10:MiB + 10])
    status, body, _ = await anon_get(session, base, url)
    assert (status, body) == (200, data)
    assert await link_uses(api, link["link_id"]) == 3  # every GET that sent bytes took one
    status, body, _ = await anon_get(session, base, url, Range="bytes=0-0")
    assert (status, error_code(body)) == (410, "link_used")


async def test_an_expired_link_answers_410_link_expired(
    cluster: LocalCluster, api: ApiClient, session: aiohttp.ClientSession,
) -> None:
    await _upload(api, "links/short.txt", 100)
    link = await _link(api, f"{api.home_bucket}/links/short.txt", expires_in_s=1)

    answers: list[tuple[int, str]] = []
    for _ in range(100):  # bounded polling; PostgreSQL's clock decides expiry
        status, body, _ = await anon_get(session, cluster.master_url, link["url"], "HEAD")
        if status != 200:
            break
        await asyncio.sleep(0.2)
    status, body, _ = await anon_get(session, cluster.master_url, link["url"])
    answers.append((status, error_code(body)))
    assert answers == [(410, "link_expired")]
    status, _, _ = await anon_get(session, cluster.extra_master_urls["master-b"], link["url"],
                              "HEAD")
    assert status == 410
    status, answer = await api.get_json("/api/v1/links")
    [listed] = [x for x in answer["data"]["links"] if x["link_id"] == link["link_id"]]
    assert listed["state"] == "expired"


async def test_revocation_holds_at_once_on_every_master(
    cluster: LocalCluster, api: ApiClient, session: aiohttp.ClientSession,
) -> None:
    data = await _upload(api, "links/revoked.txt", 5000)
    link = await _link(api, f"{api.home_bucket}/links/revoked.txt")  # unlimited uses
    master_b = cluster.extra_master_urls["master-b"]
    for _ in range(2):
        status, body, _ = await anon_get(session, master_b, link["url"])
        assert (status, body) == (200, data)
    stranger = ApiClient(api.base_url, session)
    await stranger.register_and_login()
    status, answer = await stranger.call("DELETE", f"/api/v1/links/{link['link_id']}")
    assert (status, answer["code"]) == (404, "not_found")

    status, answer = await api.call("DELETE", f"/api/v1/links/{link['link_id']}")
    assert status == 200 and answer["data"]["state"] == "revoked", answer
    for base in (master_b, cluster.master_url):
        for method in ("GET", "HEAD"):
            status, _, _ = await anon_get(session, base, link["url"], method)
            assert status == 404, (base, method)
    status, body, _ = await anon_get(session, master_b, link["url"])
    assert error_code(body) == "not_found" and link["url"][3:] not in body.decode()
    status, body, _ = await anon_get(session, master_b, "/d/" + "A" * 43)  # unknown
    assert (status, error_code(body)) == (404, "not_found")
    status, answer = await api.call("DELETE", f"/api/v1/links/{link['link_id']}")
    assert status == 200  # revoking again changes nothing
    assert await link_uses(api, link["link_id"]) == 2


async def test_a_link_serves_the_version_it_was_made_for(
    cluster: LocalCluster, api: ApiClient, session: aiohttp.ClientSession,
) -> None:
    bucket = f"links-{uuid.uuid4().hex[:8]}"
    status, answer = await api.call("POST", "/api/v1/buckets",
                                    json={"name": bucket, "versioning": True})
    assert status == 201, answer
    first = await _upload(api, "doc.txt", 3000, bucket=bucket)
    link = await _link(api, f"{bucket}/doc.txt")
    await _upload(api, "doc.txt", 4000, bucket=bucket)  # a newer version
    status, body, _ = await anon_get(session, cluster.master_url, link["url"])
    assert (status, body) == (200, first)
    assert (await api.fs("DELETE", bucket, "doc.txt"))[0] == 200  # a delete marker
    status, body, _ = await anon_get(session, cluster.master_url, link["url"])
    assert (status, error_code(body)) == (410, "link_target_gone")

    # Unversioned (the home bucket): an overwrite drops the pinned version.
    await _upload(api, "links/replaced.txt", 100)
    replaced = await _link(api, f"{api.home_bucket}/links/replaced.txt")
    await _upload(api, "links/replaced.txt", 200)
    status, body, _ = await anon_get(session, cluster.master_url, replaced["url"])
    assert (status, error_code(body)) == (410, "link_target_gone")


async def test_a_creator_who_may_no_longer_read_the_bucket_ends_the_link(
    cluster: LocalCluster, api: ApiClient, session: aiohttp.ClientSession,
) -> None:
    data = await _upload(api, "links/admin-made.txt", 700)
    helper = ApiClient(api.base_url, session)
    username = f"helper{uuid.uuid4().hex[:6]}"
    await helper.register_and_login(username)
    # An admin (promoted before its first authenticated request, so no master has its
    # role cached) makes a link to another user's file, then is demoted: the link's
    # serving checks the creator's rights in PostgreSQL on every GET.
    promote = "UPDATE users SET is_admin = %s WHERE username = %s RETURNING id"
    query(cluster.spec.database_url, promote, (True, username))
    link = await _link(helper, f"{api.home_bucket}/links/admin-made.txt")
    status, body, _ = await anon_get(session, cluster.master_url, link["url"])
    assert (status, body) == (200, data)
    query(cluster.spec.database_url, promote, (False, username))
    status, body, _ = await anon_get(session, cluster.master_url, link["url"])
    assert (status, error_code(body)) == (404, "not_found")


@pytest.mark.parametrize(("body", "code"), [
    ({"expires_in_s": 60}, "invalid_input"),
    ({"path": "", "expires_in_s": 60}, "invalid_input"),
    ({"path": 42, "expires_in_s": 60}, "invalid_input"),
    ({"path": "Not_A_Bucket/x", "expires_in_s": 60}, "bad_path"),
    ({"path": "{home}", "expires_in_s": 60}, "bad_path"),
    ({"path": "{home}/a/../b", "expires_in_s": 60}, "bad_path"),
    ({"path": "{home}/f.txt"}, "invalid_input"),
    ({"path": "{home}/f.txt", "expires_in_s": 0}, "invalid_input"),
    ({"path": "{home}/f.txt", "expires_in_s": -5}, "invalid_input"),
    ({"path": "{home}/f.txt", "expires_in_s": MAX_EXPIRY_S + 1}, "invalid_input"),
    ({"path": "{home}/f.txt", "expires_in_s": "60"}, "invalid_input"),
    ({"path": "{home}/f.txt", "expires_in_s": 60, "max_uses": 0}, "invalid_input"),
    ({"path": "{home}/f.txt", "expires_in_s": 60, "max_uses": -1}, "invalid_input"),
    ({"path": "{home}/f.txt", "expires_in_s": 60, "token": "mine"}, "invalid_input"),
])
async def test_bad_link_requests_are_400_json(
    api: ApiClient, body: dict[str, Any], code: str,
) -> None:
    await _upload(api, "f.txt", 10)
    if isinstance(body.get("path"), str):
        body = {**body, "path": body["path"].replace("{home}", api.home_bucket)}
    status, answer = await api.call("POST", "/api/v1/links", json=body)
    assert (status, answer["code"], answer["success"]) == (400, code, False), answer


async def test_links_to_files_the_caller_cannot_read_are_404_and_routes_need_auth(
    api: ApiClient, session: aiohttp.ClientSession,
) -> None:
    await _upload(api, "private.txt", 10)
    other = ApiClient(api.base_url, session)
    await other.register_and_login()
    for path in (f"{api.home_bucket}/private.txt", f"{api.home_bucket}/missing.txt",
                 f"{other.home_bucket}/missing.txt", "no-such-bucket-xyz/f"):
        caller = other if path.startswith(api.home_bucket) else api
        status, body = await caller.call("POST", "/api/v1/links",
                                         json={"path": path, "expires_in_s": 60})
        assert (status, body["code"]) == (404, "not_found"), path
    async with session.post(f"{api.base_url}/api/v1/links", data=b"{not json",
                            headers=api.auth) as r:
        assert (r.status, (await r.json())["code"]) == (400, "bad_json")
    for method, path in (("POST", "/api/v1/links"), ("GET", "/api/v1/links"),
                         ("DELETE", f"/api/v1/links/{uuid.uuid4()}")):
        async with session.request(method, f"{api.base_url}{path}",
                                   json={"path": f"{api.home_bucket}/private.txt",
                                         "expires_in_s": 60}) as r:
            assert (r.status, (await r.json())["code"]) == (401, "unauthenticated"), path


async def test_links_are_listed_and_stored_without_their_tokens(
    cluster: LocalCluster, api: ApiClient,
) -> None:
    await _upload(api, "listed.txt", 10)
    link = await _link(api, f"{api.home_bucket}/listed.txt", max_uses=5)
    status, body = await api.get_json("/api/v1/links")
    assert status == 200, body
    [listed] = body["data"]["links"]
    assert listed["link_id"] == link["link_id"]
    assert (listed["path"], listed["max_uses"], listed["uses"], listed["state"]) == (
        f"{api.home_bucket}/listed.txt", 5, 0, "active")
    assert "url" not in listed and link["url"][3:] not in json.dumps(body)
    status, body = await api.get_json("/api/v1/links?all=true")
    assert (status, body["code"]) == (403, "forbidden")
    admin = await admin_client(api.base_url, api.session, ADMIN)
    status, body = await admin.get_json("/api/v1/links?all=true&limit=1000")
    assert status == 200 and link["link_id"] in {x["link_id"] for x in body["data"]["links"]}
    status, body = await admin.get_json(f"/api/v1/links?bucket={api.home_bucket}")
    assert [x["link_id"] for x in body["data"]["links"]] == [link["link_id"]]
    [row] = query(cluster.spec.database_url, "SELECT * FROM links WHERE id = %s",
                  (uuid.UUID(link["link_id"]),))
    token = link["url"][3:]
    assert row["token_hash"] == hashlib.sha256(token.encode()).digest()
    assert token not in repr(row)


async def test_link_creation_and_revocation_are_audited_with_actor_and_target(
    api: ApiClient, session: aiohttp.ClientSession,
) -> None:
    await _upload(api, "audited.txt", 10)
    link = await _link(api, f"{api.home_bucket}/audited.txt", max_uses=1)
    assert (await api.call("DELETE", f"/api/v1/links/{link['link_id']}"))[0] == 200
    status, profile = await api.get_json("/api/v1/auth/profile")
    username = profile["data"]["username"]
    admin = await admin_client(api.base_url, api.session, ADMIN)
    status, body = await admin.get_json(f"/api/v1/admin/audit?actor={username}&limit=1000")
    assert status == 200, body
    rows = [(e["action"], e["target"], e["actor"], e["outcome"])
            for e in body["data"]["entries"] if e["action"].startswith("link.")]
    assert rows == [("link.create", link["link_id"], username, "ok"),
                    ("link.revoke", link["link_id"], username, "ok")]
    created = next(e for e in body["data"]["entries"] if e["action"] == "link.create")
    assert created["details"]["path"] == f"{api.home_bucket}/audited.txt"
    assert created["details"]["max_uses"] == 1
    assert link["url"][3:] not in json.dumps(body)


async def test_a_download_that_fails_before_its_first_byte_gives_its_use_back(
    cluster: LocalCluster, api: ApiClient, session: aiohttp.ClientSession,
) -> None:
    data = await _upload(api, "links/unreadable.bin", 1000)
    link = await _link(api, f"{api.home_bucket}/links/unreadable.bin", max_uses=1)
    workers = [handle.process for handle in cluster.workers.values()]
    for process in workers:
        process.freeze()
    try:
        status, body, _ = await anon_get(session, cluster.master_url, link["url"])
    finally:
        for process in workers:
            process.thaw()
    assert (status, error_code(body)) == (503, "unavailable")
    assert await link_uses(api, link["link_id"]) == 0
    for _ in range(120):  # bounded: until the masters' probes see the workers again
        status, body, _ = await anon_get(session, cluster.master_url, link["url"])
        if status != 503:
            break
        await asyncio.sleep(0.5)
    assert (status, body) == (200, data)  # every failed try gave its use back
    status, body, _ = await anon_get(session, cluster.master_url, link["url"])
    assert (status, error_code(body)) == (410, "link_used")
    # Reads can succeed before the probes call the workers healthy; later tests write.
    await wait_healthy(session, [cluster.master_url, *cluster.extra_master_urls.values()])


async def test_the_openapi_document_describes_the_link_routes(api: ApiClient) -> None:
    status, spec = await api.get_json("/api/v1/openapi.json")
    assert status == 200
    assert set(spec["paths"]["/api/v1/links"]) == {"get", "post"}
    assert "delete" in spec["paths"]["/api/v1/links/{link_id}"]
    download = spec["paths"]["/d/{token}"]["get"]
    assert download["security"] == [] and {"200", "206", "404", "410"} <= set(
        download["responses"])


async def test_no_token_appears_in_any_log_line(
    cluster: LocalCluster, api: ApiClient, session: aiohttp.ClientSession,
) -> None:
    """Its own links, used every way (so it holds alone too), and every token the tests
    before it made: none is in either master's log."""
    await _upload(api, "links/logged.txt", 3000)
    mine = [await _link(api, f"{api.home_bucket}/links/logged.txt", max_uses=2)
            for _ in range(2)]
    master_b = cluster.extra_master_urls["master-b"]
    for base in (cluster.master_url, master_b):
        for link in mine:
            url, token = link["url"], link["url"][3:]
            await anon_get(session, base, url, "HEAD")
            await anon_get(session, base, url, Range="bytes=5-10")
            await anon_get(session, base, url, Range="bytes=999999-")  # 416
            # Odd requests with the token in them: unmatched routes, queries, wrong routes.
            for odd in (f"{url}/extra", f"{url}?download=1", f"/api/v1/links/{token}",
                        f"/d/{token[:-1]}", f"/api/v1/fs/{token}/x"):
                status, _, _ = await anon_get(session, base, odd)
                assert status != 500, odd
    assert (await api.call("DELETE", f"/api/v1/links/{mine[0]['link_id']}"))[0] == 200
    assert (await anon_get(session, master_b, mine[0]["url"]))[0] == 404
    assert (await anon_get(session, master_b, mine[1]["url"]))[0] == 410  # used up
    logs, text = await asyncio.to_thread(master_logs, cluster.spec.base_dir / "logs")
    assert {"master.log", "master-b.log"} <= logs
    assert '"route": "/d/{token}"' in text  # the downloads were logged, by template
    assert '"level": "DEBUG"' in text  # at the most talkative level
    leaked = [t for t in TOKENS if t in text]
    assert leaked == []

