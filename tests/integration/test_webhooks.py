"""Webhooks (DESIGN §13, issue 18): registration checks the allow-list; a receiver that
was down gets every event once it is up, in order, signed; the master delivering them
is killed with SIGKILL mid-backlog and the other master finishes (duplicates allowed,
losses not)."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from common.embedded import free_port
from tests.support.api import ApiClient
from tests.support.clusters import module_cluster
from tests.support.db import query
from tests.support.events import WebhookReceiver
from tests.support.waiting import eventually
from tools.cluster import LocalCluster

pytestmark = pytest.mark.timeout(300)

LEASE_TTL_S = 2.0
BACKLOG = 120


@pytest.fixture(scope="module")
def cluster(pg_server_url: str, redis_url: str) -> Iterator[LocalCluster]:
    with module_cluster(
        pg_server_url, redis_url, "webhooks", workers=0, with_controller=False,
        master_env={"WEBHOOK_ALLOWED_HOSTS": "127.0.0.1", "WEBHOOK_RETRY_MAX_S": "1",
                    "WEBHOOK_TIMEOUT_S": "5", "LEASE_TTL_SECONDS": str(LEASE_TTL_S)},
    ) as running:
        running.start_master(name="master-b")
        yield running


async def _bucket(api: ApiClient) -> str:
    name = f"hook-{uuid.uuid4().hex[:8]}"
    status, body = await api.call("POST", "/api/v1/buckets", json={"name": name})
    assert status == 201, body
    return name


async def _register(api: ApiClient, **fields: Any) -> tuple[int, dict[str, Any]]:
    return await api.call("POST", "/api/v1/webhooks", json=fields)


async def test_a_target_outside_the_allow_list_is_refused_at_registration(
    api: ApiClient, cluster: LocalCluster,
) -> None:
    bucket = await _bucket(api)
    secret = secrets.token_hex(16)
    for url in ("http://example.com/hook", "http://127.0.0.2:9000/hook",
                "http://localhost:9000/hook", "https://[::1]:9000/hook"):
        status, body = await _register(api, url=url, bucket=bucket, secret=secret)
        assert status == 400, (url, body)
        assert body["code"] == "target_not_allowed", (url, body)
    for url in ("ftp://127.0.0.1/hook", "http://user:pw@127.0.0.1:9000/hook", "not a url"):
        status, body = await _register(api, url=url, bucket=bucket, secret=secret)
        assert status == 400 and body["code"] == "invalid_input", (url, body)
    status, body = await _register(api, url="http://127.0.0.1:9/hook", bucket=bucket,
                                   secret="short")
    assert status == 400 and body["code"] == "invalid_input", body
    status, body = await _register(api, url="http://127.0.0.1:9/hook", bucket="no-such-b",
                                   secret=secret)
    assert status == 404, body

    status, body = await _register(api, url="http://127.0.0.1:9/hook", bucket=bucket,
                                   secret=secret, prefix="p/", types=["dir.created"])
    assert status == 201, body
    webhook_id = body["data"]["webhook_id"]
    assert secret not in str(body)
    status, body = await api.call("GET", f"/api/v1/webhooks/{webhook_id}")
    assert status == 200 and secret not in str(body)
    assert body["data"]["bucket"] == bucket and body["data"]["types"] == ["dir.created"]
    assert {"cursor", "pending", "last_error", "failures", "state"} <= set(body["data"])
    status, body = await api.call("GET", "/api/v1/webhooks")
    assert [h["webhook_id"] for h in body["data"]["webhooks"]] == [webhook_id]
    other = ApiClient(api.base_url, api.session)
    await other.register_and_login()
    status, _ = await other.call("GET", f"/api/v1/webhooks/{webhook_id}")
    assert status == 404  # another user's webhook does not exist for them
    (row,) = query(cluster.spec.database_url,
                   "SELECT sealed_secret FROM webhooks WHERE id = %s", (webhook_id,))
    assert secret.encode() not in bytes(row["sealed_secret"])  # sealed, not in clear
    assert (await api.call("DELETE", f"/api/v1/webhooks/{webhook_id}"))[0] == 200
    assert (await api.call("GET", f"/api/v1/webhooks/{webhook_id}"))[0] == 404


async def test_a_webhook_gets_only_its_prefix_and_types(api: ApiClient) -> None:
    bucket = await _bucket(api)
    receiver = WebhookReceiver(secrets.token_hex(16).encode(), free_port())
    await receiver.start()
    try:
        status, body = await _register(
            api, url=receiver.url, bucket=bucket, secret=receiver.secret.decode(),
            prefix="keep/", types=["dir.created"])
        assert status == 201, body
        for path in ("keep/a/", "skip/b/", "keep/c/"):
            assert (await api.fs("POST", bucket, path))[0] == 201
        assert (await api.fs("DELETE", bucket, "keep/c/"))[0] == 200

        def two_arrived() -> bool:
            return len(receiver.deliveries) >= 2

        assert await eventually(two_arrived, timeout_s=30, every_s=0.1)
        await asyncio.sleep(1.5)  # time for anything else to (wrongly) arrive
        assert [d.event["path"] for d in receiver.deliveries] == ["keep/a", "keep/c"]
        assert all(d.signature_ok for d in receiver.deliveries)
    finally:
        await receiver.stop()


async def test_receiver_down_then_up_gets_everything_in_order_despite_a_kill_9(
    api: ApiClient, cluster: LocalCluster,
) -> None:
    bucket = await _bucket(api)
    receiver = WebhookReceiver(secrets.token_hex(20).encode(), free_port(), delay_s=0.05)
    status, body = await _register(api, url=receiver.url, bucket=bucket,
                                   secret=receiver.secret.decode())
    assert status == 201, body
    webhook_id, start = body["data"]["webhook_id"], body["data"]["cursor"]

    def stored_ids() -> list[int]:
        return [r["id"] for r in query(
            cluster.spec.database_url,
            "SELECT e.id FROM events e WHERE e.bucket = %s AND e.id > %s ORDER BY e.id",
            (bucket, start))]

    # The receiver is down: the backlog builds up and the webhook records failures.
    for i in range(BACKLOG):
        assert (await api.fs("POST", bucket, f"d{i:03d}/"))[0] == 201
    expected = stored_ids()

    async def webhook() -> dict[str, Any]:
        status, body = await api.call("GET", f"/api/v1/webhooks/{webhook_id}")
        assert status == 200, body
        return body["data"]

    for _ in range(600):
        state = await webhook()
        if state["failures"] >= 2 and len(expected) == BACKLOG:
            break
        await asyncio.sleep(0.1)
        expected = stored_ids()
    assert state["failures"] >= 2 and state["last_error"], state
    assert len(expected) == BACKLOG and state["pending"] == BACKLOG, state
    assert receiver.deliveries == []

    await receiver.start()
    try:
        def some_arrived() -> bool:
            return len(receiver.first_seen_ids()) >= 30

        assert await eventually(some_arrived, timeout_s=60, every_s=0.05)
        (lease,) = query(cluster.spec.database_url,
                         "SELECT holder FROM singleton_leases WHERE job = 'webhooks'")
        holder_port = int(lease["holder"].split(":")[1])
        if holder_port == cluster.master_port:
            victim, survivor = cluster.master, cluster.extra_master_urls["master-b"]
        else:
            victim, survivor = cluster.extra_masters["master-b"], cluster.master_url
        assert victim is not None
        victim.kill()
        assert len(receiver.first_seen_ids()) < BACKLOG, "the kill came mid-backlog"

        def all_arrived() -> bool:
            return set(receiver.first_seen_ids()) >= set(expected)

        assert await eventually(all_arrived, timeout_s=120, every_s=0.1)
    finally:
        await receiver.stop()
    assert receiver.first_seen_ids() == expected, "in order"
    assert all(d.signature_ok for d in receiver.deliveries)
    assert all(d.webhook_id == webhook_id for d in receiver.deliveries)
    assert [d.event["id"] for d in receiver.deliveries] == [
        d.event_id for d in receiver.deliveries]
    ids = [d.event_id for d in receiver.deliveries]
    rewinds = sum(1 for a, b in itertools.pairwise(ids) if b <= a)
    assert rewinds <= 1, ids  # the takeover may resend what was in flight, once
    api.base_url = survivor
    for _ in range(100):  # the cursor moves just after the receiver answered
        state = await webhook()
        if state["cursor"] >= expected[-1]:
            break
        await asyncio.sleep(0.1)
    assert state["cursor"] >= expected[-1] and state["pending"] == 0, state
    assert state["delivered"] >= BACKLOG, state
