"""The admin role is enforced by the backend, not by a UI."""

from __future__ import annotations

from tests.integration.conftest import ADMIN
from tests.support.api import ApiClient


async def test_admin_cluster_view_is_403_for_ordinary_users(api: ApiClient) -> None:
    status, body = await api.get_json("/api/v1/admin/cluster")
    assert (status, body["code"]) == (403, "forbidden")


async def test_admin_cluster_view_shows_workers_and_counts_to_an_admin(api: ApiClient) -> None:
    await api.upload_raw(b"x" * 5000, "admin/seen.bin")
    admin = ApiClient(api.base_url, api.session)
    await admin.register_and_login(ADMIN)
    status, body = await admin.get_json("/api/v1/admin/cluster")
    assert status == 200, body
    view = body["data"]
    assert {w["worker_id"] for w in view["workers"]} == {"worker-1", "worker-2", "worker-3"}
    assert view["files"] >= 1 and view["chunks"] >= 1
    assert view["stored_bytes"] > 0
    assert view["replication_factor"] == 3
