"""Retention (DESIGN §13, issue 18): events older than EVENTS_RETENTION_S are pruned; a
reader (long poll or SSE) or a webhook whose cursor fell behind gets 410 /
``cursor_expired``, never a silent gap."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from common.embedded import free_port
from tests.support.api import ApiClient
from tests.support.clusters import module_cluster
from tests.support.events import WebhookReceiver, collect, poll
from tools.cluster import LocalCluster

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def cluster(pg_server_url: str, redis_url: str) -> Iterator[LocalCluster]:
    with module_cluster(
        pg_server_url, redis_url, "events-retention", workers=0, with_controller=False,
        master_env={"EVENTS_RETENTION_S": "2", "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
                    "WEBHOOK_RETRY_MAX_S": "1"},
    ) as running:
        yield running


@pytest.fixture
async def api(cluster: LocalCluster) -> AsyncIterator[ApiClient]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        client = ApiClient(cluster.master_url, session)
        await client.register_and_login()
        yield client


async def test_a_cursor_behind_the_retained_events_gets_410_cursor_expired(
    api: ApiClient,
) -> None:
    bucket = f"ret-{uuid.uuid4().hex[:8]}"
    assert (await api.call("POST", "/api/v1/buckets", json={"name": bucket}))[0] == 201
    status, body = await poll(api, bucket=bucket)
    assert status == 200, body
    old_cursor = body["data"]["last_id"]
    assert (await api.fs("POST", bucket, "soon-gone/"))[0] == 201
    events, _ = await collect(api, old_cursor, 1, bucket=bucket)
    assert [e["path"] for e in events] == ["soon-gone"]

    for _ in range(200):  # retention is 2 s; pruning runs every 0.5 s
        status, body = await poll(api, old_cursor, bucket=bucket)
        if status != 200:
            break
        await asyncio.sleep(0.1)
    assert status == 410, body
    assert body["code"] == "cursor_expired"
    assert body["details"]["pruned_through"] > old_cursor
    # The same cursor through SSE is refused before the stream starts.
    status, body = await api.call("GET", "/api/v1/events", headers={
        "Accept": "text/event-stream", "Last-Event-ID": str(old_cursor)})
    assert status == 410 and body["code"] == "cursor_expired", body
    # Resuming where the feed now starts is allowed (the gap is then a known one).
    status, body = await poll(api, body["details"]["pruned_through"], bucket=bucket)
    assert status == 200, body


async def test_a_webhook_that_fell_behind_stops_with_cursor_expired(api: ApiClient) -> None:
    bucket = f"ret-{uuid.uuid4().hex[:8]}"
    assert (await api.call("POST", "/api/v1/buckets", json={"name": bucket}))[0] == 201
    receiver = WebhookReceiver(secrets.token_hex(16).encode(), free_port())  # stays down
    status, body = await api.call("POST", "/api/v1/webhooks", json={
        "url": receiver.url, "bucket": bucket, "secret": receiver.secret.decode()})
    assert status == 201, body
    webhook_id = body["data"]["webhook_id"]
    assert (await api.fs("POST", bucket, "never-delivered/"))[0] == 201
    for _ in range(300):
        status, body = await api.call("GET", f"/api/v1/webhooks/{webhook_id}")
        assert status == 200, body
        if body["data"]["state"] != "active":
            break
        await asyncio.sleep(0.1)
    assert body["data"]["state"] == "cursor_expired", body
    assert body["data"]["last_error"].startswith("cursor_expired"), body
    assert receiver.deliveries == []
