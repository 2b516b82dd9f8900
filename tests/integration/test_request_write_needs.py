"""Per-request write needs against a real cluster (issue 23): a client states a minimum of
synchronous copies or a latency budget, the master honours the stronger of that and the
mode, and the receipt says what was required and achieved."""

from __future__ import annotations

import io
import os

import aiohttp
import pytest

from tests.support.api import ApiClient

pytestmark = pytest.mark.timeout(60)

MIN_COPIES = "X-EchoFS-Min-Sync-Copies"
BUDGET = "X-EchoFS-Latency-Budget-Ms"


async def test_a_minimum_above_the_modes_quorum_is_honoured(api: ApiClient) -> None:
    status, body = await api.call(
        "PUT", f"/api/v1/fs/{api.home_bucket}/needs/three.bin", data=os.urandom(4096),
        headers={MIN_COPIES: "3", BUDGET: "30000"},
    )
    assert status == 201, body
    receipt = body["data"]
    assert receipt["mode"] == "C"  # W = 2 by the mode; the request asked for 3
    assert receipt["sync"]["required"] == 3 and receipt["sync"]["achieved"] == 3
    assert receipt["replicas"] == {"target": 3, "acked": 3, "pending": 0}
    assert receipt["sync"]["latency_budget_ms"] == 30000
    assert receipt["sync"]["within_budget"] is True


async def test_a_weaker_minimum_never_weakens_the_mode(api: ApiClient) -> None:
    form = aiohttp.FormData()
    form.add_field("path", "needs/form.bin")
    form.add_field("min_sync_copies", "1")
    form.add_field("file", io.BytesIO(os.urandom(4096)), filename="form.bin",
                   content_type="application/octet-stream")
    status, body = await api.call("POST", "/api/v1/files/upload", data=form)
    assert status == 201, body
    assert body["data"]["sync"]["required"] == 2 and body["data"]["sync"]["min_sync_copies"] == 1
    assert body["data"]["sync"]["within_budget"] is None


@pytest.mark.parametrize(("header", "value"), [
    (MIN_COPIES, "4"), (MIN_COPIES, "0"), (MIN_COPIES, "many"), (BUDGET, "0"), (BUDGET, "1e3"),
])
async def test_bad_needs_are_refused_before_anything_is_stored(
    api: ApiClient, header: str, value: str
) -> None:
    status, body = await api.call(
        "PUT", f"/api/v1/fs/{api.home_bucket}/needs/bad.bin", data=b"x" * 10,
        headers={header: value},
    )
    assert (status, body["code"]) == (400, "invalid_input"), body
    status, _, _ = await api.read(api.home_bucket, "needs/bad.bin")
    assert status == 404


async def test_a_session_part_takes_the_headers_too(api: ApiClient) -> None:
    data = os.urandom(2048)
    status, body = await api.call("POST", "/api/v1/files/upload/init", json={
        "file_name": "s.bin", "file_size": len(data), "path": "needs/session.bin"})
    assert status == 201, body
    session_id = body["data"]["session_id"]
    status, body = await api.call(
        "PUT", f"/api/v1/files/upload/{session_id}/chunks/0", data=data,
        headers={MIN_COPIES: "9"})
    assert (status, body["code"]) == (400, "invalid_input")
    status, body = await api.call(
        "PUT", f"/api/v1/files/upload/{session_id}/chunks/0", data=data,
        headers={MIN_COPIES: "3"})
    assert status == 200, body
    status, body = await api.call("POST", f"/api/v1/files/upload/{session_id}/complete")
    assert status == 201 and body["data"]["replicas"]["acked"] == 3, body


async def test_a_budget_that_runs_out_fails_the_upload_and_stores_nothing(
    api: ApiClient,
) -> None:
    status, body = await api.call(
        "PUT", f"/api/v1/fs/{api.home_bucket}/needs/late.bin", data=os.urandom(64 * 1024),
        headers={BUDGET: "1"},
    )
    assert (status, body["code"]) == (412, "latency_budget_exceeded"), body
    assert body["details"]["needed"] == 2 and body["details"]["latency_budget_ms"] == 1
    status, _, _ = await api.read(api.home_bucket, "needs/late.bin")
    assert status == 404
