"""The audit log (DESIGN §12): security-relevant actions become rows admins can read,
with actor and target, and never with a secret."""

from __future__ import annotations

import json
import uuid

from tests.integration.conftest import ADMIN
from tests.support.access import admin_client
from tests.support.api import ApiClient

PASSWORD = "pw-123456789"




async def test_the_audit_log_is_for_admins_only(api: ApiClient) -> None:
    status, body = await api.get_json("/api/v1/admin/audit")
    assert (status, body["code"]) == (403, "forbidden")
    async with api.session.get(f"{api.base_url}/api/v1/admin/audit") as r:
        assert r.status == 401


async def test_logins_registrations_and_bucket_changes_are_audited_without_secrets(
    api: ApiClient,
) -> None:
    username = f"aud{uuid.uuid4().hex[:8]}"
    user = ApiClient(api.base_url, api.session)
    token = await user.register_and_login(username, PASSWORD)
    async with api.session.post(f"{api.base_url}/api/v1/auth/login",
                                json={"username": username, "password": "wrong-pass-1"}) as r:
        assert r.status == 401
    bucket = f"audit-{uuid.uuid4().hex[:8]}"
    assert (await user.call("POST", "/api/v1/buckets", json={"name": bucket}))[0] == 201
    assert (await user.call("PATCH", f"/api/v1/buckets/{bucket}",
                            json={"versioning": True}))[0] == 200
    assert (await user.call("DELETE", f"/api/v1/buckets/{bucket}"))[0] == 200

    admin = await admin_client(api.base_url, api.session, ADMIN)
    status, body = await admin.get_json(f"/api/v1/admin/audit?actor={username}&limit=1000")
    assert status == 200, body
    rows = [(e["action"], e["target"], e["outcome"], e["actor_id"] is not None)
            for e in body["data"]["entries"]]
    assert rows == [
        ("auth.register", username, "ok", True),
        ("auth.login", username, "ok", True),
        ("auth.login", username, "failed", False),
        ("bucket.create", bucket, "ok", True),
        ("bucket.update", bucket, "ok", True),
        ("bucket.delete", bucket, "ok", True),
    ]
    failed = body["data"]["entries"][2]
    assert failed["client"] in ("127.0.0.1", "::1")
    assert body["data"]["entries"][4]["details"] == {"versioning": True}
    dumped = json.dumps(body)
    assert PASSWORD not in dumped and "wrong-pass-1" not in dumped and token not in dumped


async def test_the_audit_log_pages_by_id_and_refuses_bad_paging(api: ApiClient) -> None:
    admin = await admin_client(api.base_url, api.session, ADMIN)
    status, first = await admin.get_json("/api/v1/admin/audit?limit=2")
    assert status == 200, first
    entries = first["data"]["entries"]
    assert len(entries) == 2 and entries[0]["id"] < entries[1]["id"]
    after = first["data"]["next_after"]
    assert after == entries[1]["id"]
    status, rest = await admin.get_json(f"/api/v1/admin/audit?after={after}&limit=1000")
    assert status == 200
    assert all(e["id"] > after for e in rest["data"]["entries"])
    for query in ("limit=0", "limit=1001", "after=-1", "after=abc", "limit=1.5"):
        status, body = await admin.get_json(f"/api/v1/admin/audit?{query}")
        assert (status, body["code"]) == (400, "invalid_input"), query



async def test_webhook_registration_and_deletion_are_audited_without_the_secret(
    api: ApiClient,
) -> None:
    secret = f"hook-secret-{uuid.uuid4().hex}"
    status, made = await api.call("POST", "/api/v1/webhooks", json={
        "url": "http://127.0.0.1:9/audit-hook", "bucket": api.home_bucket, "secret": secret})
    assert status == 201, made
    hook_id = made["data"]["webhook_id"]
    assert (await api.call("DELETE", f"/api/v1/webhooks/{hook_id}"))[0] == 200
    admin = await admin_client(api.base_url, api.session, ADMIN)
    status, body = await admin.get_json("/api/v1/admin/audit?limit=1000&action=webhook.create")
    assert status == 200
    created = [e for e in body["data"]["entries"] if e["target"] == hook_id]
    assert [(e["details"]["bucket"], e["details"]["target_host"]) for e in created] == [
        (api.home_bucket, "127.0.0.1")]
    status, body = await admin.get_json("/api/v1/admin/audit?limit=1000&action=webhook.delete")
    assert [e["target"] for e in body["data"]["entries"]].count(hook_id) == 1
    assert secret not in json.dumps(body)
