"""Bad input gets a JSON error with a stable code and a 4xx status, never a 500."""

from __future__ import annotations

import time
import uuid

import aiohttp
import jwt
import pytest

from tests.support.api import ApiClient
from tools.cluster import LocalCluster


async def _call(api: ApiClient, method: str, path: str, **kwargs: object) -> tuple[int, dict]:
    async with api.session.request(method, f"{api.base_url}{path}", **kwargs) as response:  # type: ignore[arg-type]
        assert response.content_type == "application/json", await response.text()
        return response.status, await response.json()


def _assert_error(status: int, body: dict, expected_status: int, code: str) -> None:
    assert (status, body.get("code")) == (expected_status, code), body
    assert body["success"] is False
    assert body["message"]


@pytest.mark.parametrize(("route", "body", "code"), [
    ("/api/v1/auth/register", b"{not json", "bad_json"),
    ("/api/v1/auth/login", b"\xff\xfe", "bad_json"),
    ("/api/v1/auth/register", b"[1, 2]", "invalid_input"),
    ("/api/v1/auth/register", b'{"username": "x"}', "invalid_input"),
    ("/api/v1/auth/register", b'{"username": "ok-name", "password": "short"}', "invalid_input"),
])
async def test_malformed_auth_bodies_are_400(
    api: ApiClient, route: str, body: bytes, code: str
) -> None:
    status, reply = await _call(
        api, "POST", route, data=body, headers={"Content-Type": "application/json"}
    )
    _assert_error(status, reply, 400, code)


async def test_oversized_json_body_is_413(api: ApiClient) -> None:
    status, reply = await _call(
        api, "POST", "/api/v1/auth/login", data=b"{" + b" " * 200_000 + b"}"
    )
    _assert_error(status, reply, 413, "payload_too_large")


async def test_wrong_password_is_401_and_does_not_reveal_the_user_exists(api: ApiClient) -> None:
    name = f"u{uuid.uuid4().hex[:8]}"
    await _call(
        api, "POST", "/api/v1/auth/register", json={"username": name, "password": "right-password"}
    )
    status, wrong = await _call(
        api, "POST", "/api/v1/auth/login", json={"username": name, "password": "wrong-password"}
    )
    _assert_error(status, wrong, 401, "bad_credentials")
    status, unknown = await _call(
        api,
        "POST",
        "/api/v1/auth/login",
        json={"username": "nobody-" + name, "password": "wrong-password"},
    )
    _assert_error(status, unknown, 401, "bad_credentials")
    assert wrong["message"] == unknown["message"]


async def test_duplicate_username_is_409(api: ApiClient) -> None:
    body = {"username": f"u{uuid.uuid4().hex[:8]}", "password": "a-good-password"}
    assert (await _call(api, "POST", "/api/v1/auth/register", json=body))[0] == 201
    status, reply = await _call(api, "POST", "/api/v1/auth/register", json=body)
    _assert_error(status, reply, 409, "conflict")


def _forged(secret: str, **claims: object) -> str:
    now = int(time.time())
    return jwt.encode(
        {"sub": "1", "iat": now, "exp": now + 600, **claims}, secret, algorithm="HS256"
    )


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-jwt",
        "Bearer " + _forged("some-other-secret-of-32-bytes!!!"),
        "Bearer " + _forged("test-jwt-secret-0123456789abcdef", exp=int(time.time()) - 10),
        "Bearer " + jwt.encode({"sub": "1"}, "test-jwt-secret-0123456789abcdef", algorithm="HS256"),
        "Bearer " + _forged("test-jwt-secret-0123456789abcdef", sub="999999"),
    ],
)
@pytest.mark.parametrize(
    "route", ["/api/v1/files", "/api/v1/auth/profile", "/api/v1/workers/health"]
)
async def test_missing_forged_or_expired_tokens_are_401(
    api: ApiClient, route: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    status, reply = await _call(api, "GET", route, headers=headers)
    _assert_error(status, reply, 401, "unauthenticated")


async def test_upload_without_a_file_part_is_400(api: ApiClient) -> None:
    form = aiohttp.FormData()
    form.add_field("path", "x.bin")
    status, reply = await _call(api, "POST", "/api/v1/files/upload", data=form, headers=api.auth)
    _assert_error(status, reply, 400, "invalid_input")


async def test_upload_that_is_not_multipart_is_400(api: ApiClient) -> None:
    status, reply = await _call(
        api,
        "POST",
        "/api/v1/files/upload",
        data=b"raw bytes",
        headers={**api.auth, "Content-Type": "application/octet-stream"},
    )
    _assert_error(status, reply, 400, "invalid_input")


async def test_unknown_consistency_value_is_400(api: ApiClient) -> None:
    status, reply = await _call(
        api, "PUT", f"/api/v1/fs/{api.home_bucket}/x.bin?consistency=eventual", data=b"x",
        headers=api.auth,
    )
    _assert_error(status, reply, 400, "invalid_input")


@pytest.mark.parametrize("file_id", [str(uuid.uuid4()), "not-a-uuid", "1"])
async def test_unknown_file_ids_are_404(api: ApiClient, file_id: str) -> None:
    for suffix in ("", "/download"):
        status, reply = await _call(
            api, "GET", f"/api/v1/files/{file_id}{suffix}", headers=api.auth
        )
        _assert_error(status, reply, 404, "not_found")
    status, reply = await _call(api, "DELETE", f"/api/v1/files/{file_id}", headers=api.auth)
    _assert_error(status, reply, 404, "not_found")


async def test_another_users_file_is_404_for_read_and_delete(
    cluster: LocalCluster, api: ApiClient
) -> None:
    status, body = await api.upload_raw(b"private bytes", "private/a.txt")
    assert status == 201
    file_id = body["data"]["file_id"]
    other = ApiClient(api.base_url, api.session)
    await other.register_and_login()
    for method, suffix in (("GET", ""), ("GET", "/download"), ("DELETE", "")):
        status, reply = await _call(
            other, method, f"/api/v1/files/{file_id}{suffix}", headers=other.auth
        )
        _assert_error(status, reply, 404, "not_found")
    status, _, _ = await api.download(file_id)
    assert status == 200


@pytest.mark.parametrize(
    "raw_path",
    [
        "a/%2e%2e/b",
        "%2e%2e/etc/passwd",
        "a/%2E%2E",
        "a/%00b",
        "a/..%2fb",
        "a/%5cb",
        "a//b",
    ],
)
async def test_path_escapes_are_400(api: ApiClient, raw_path: str) -> None:
    url = api.fs_url(raw_path)
    async with api.session.put(
        aiohttp.client.URL(url, encoded=True), data=b"x", headers=api.auth
    ) as r:
        body = await r.json()
    _assert_error(r.status, body, 400, "bad_path")


async def test_unknown_route_is_a_json_404(api: ApiClient) -> None:
    status, reply = await _call(api, "GET", "/api/v1/nope", headers=api.auth)
    _assert_error(status, reply, 404, "not_found")


async def test_worker_routes_fail_closed_without_the_cluster_secret(api: ApiClient) -> None:
    body = {"worker_id": "intruder", "address": "127.0.0.1:1"}
    for headers in ({}, {"X-Cluster-Secret": "wrong-secret"}):
        status, reply = await _call(
            api, "POST", "/api/v1/workers/register", json=body, headers=headers
        )
        _assert_error(status, reply, 401, "unauthenticated")
    status, reply = await _call(
        api,
        "POST",
        "/api/v1/workers/worker-1/heartbeat",
        json={},
        headers={"X-Cluster-Secret": "wrong-secret"},
    )
    _assert_error(status, reply, 401, "unauthenticated")
