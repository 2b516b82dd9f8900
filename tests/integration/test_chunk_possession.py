"""Knowing a chunk's hash grants nothing (DESIGN.md §15): `chunks/has` and X-Chunk-Id
references answer only for chunks that files the caller can read already reference."""

from __future__ import annotations

import hashlib
import os

import aiohttp

from tests.integration.conftest import ADMIN
from tests.support.api import ApiClient

CS = 1024 * 1024


async def _json(api: ApiClient, method: str, path: str, **kwargs: object) -> tuple[int, dict]:
    async with api.session.request(method, f"{api.base_url}{path}",  # type: ignore[arg-type]
                                   headers=api.auth, **kwargs) as r:
        return r.status, await r.json()


async def _has(api: ApiClient, chunk_ids: list[str]) -> dict:
    status, body = await _json(api, "POST", "/api/v1/chunks/has", json={"chunk_ids": chunk_ids})
    assert status == 200, body
    return body["data"]


async def _reference(
    api: ApiClient, session_id: str, index: int, chunk_id: str
) -> tuple[int, dict]:
    async with api.session.put(f"{api.base_url}/api/v1/files/upload/{session_id}/chunks/{index}",
                               headers={**api.auth, "X-Chunk-Id": chunk_id}) as r:
        return r.status, await r.json()


async def _other_user(api: ApiClient, username: str | None = None) -> ApiClient:
    other = ApiClient(api.base_url, api.session)
    await other.register_and_login(username)
    return other


async def _victim_file(api: ApiClient, name: str) -> tuple[bytes, str]:
    """A's secret: one whole chunk of random bytes, stored; returns (bytes, chunk id)."""
    secret = os.urandom(CS)
    status, body = await api.upload_raw(secret, f"private/{name}")
    assert status == 201, body
    return secret, hashlib.sha256(secret).hexdigest()


def _without_id(message: str, chunk_id: str) -> str:
    return message.replace(chunk_id[:12], "<id>")


async def test_has_answers_absent_to_another_user_exactly_as_for_a_never_stored_chunk(
    api: ApiClient,
) -> None:
    _, chunk_id = await _victim_file(api, "has.bin")
    never_stored = hashlib.sha256(os.urandom(32)).hexdigest()
    attacker = await _other_user(api)

    seen_by_attacker = await _has(attacker, [chunk_id, never_stored])
    assert seen_by_attacker["present"] == {chunk_id: False, never_stored: False}
    assert seen_by_attacker["live_copies"] == {chunk_id: 0, never_stored: 0}
    assert (await _has(api, [chunk_id]))["present"] == {chunk_id: True}


async def test_referencing_another_users_chunk_is_refused_as_unknown_and_yields_none_of_its_bytes(
    api: ApiClient,
) -> None:
    secret, chunk_id = await _victim_file(api, "reference.bin")
    never_stored = hashlib.sha256(os.urandom(32)).hexdigest()
    attacker = await _other_user(api)
    status, body = await _json(attacker, "POST", "/api/v1/files/upload/init", json={
        "file_name": "stolen.bin", "file_size": 2 * CS, "path": "loot/stolen.bin"})
    assert status == 201, body
    session_id = body["data"]["session_id"]

    stolen = await _reference(attacker, session_id, 0, chunk_id)
    unknown = await _reference(attacker, session_id, 1, never_stored)
    assert stolen[0] == unknown[0] == 404
    assert stolen[1]["code"] == unknown[1]["code"] == "not_found"
    assert _without_id(stolen[1]["message"], chunk_id) == _without_id(
        unknown[1]["message"], never_stored)

    status, body = await _json(attacker, "POST", f"/api/v1/files/upload/{session_id}/complete")
    assert (status, body["code"]) == (409, "incomplete_upload")
    status, listing = await attacker.get_json("/api/v1/files")
    assert status == 200 and listing["data"]["files"] == [], listing
    async with attacker.session.get(attacker.fs_url("loot/stolen.bin"),
                                    headers=attacker.auth) as r:
        assert r.status == 404
        assert secret not in await r.read()


async def test_a_user_who_sends_the_bytes_may_reference_them_afterwards(api: ApiClient) -> None:
    secret, chunk_id = await _victim_file(api, "shared-content.bin")
    other = await _other_user(api)
    status, body = await other.upload_raw(secret, "mine/same-content.bin")
    assert status == 201, body
    assert (await _has(other, [chunk_id]))["present"] == {chunk_id: True}

    status, body = await _json(other, "POST", "/api/v1/files/upload/init", json={
        "file_name": "again.bin", "file_size": CS, "path": "mine/again.bin"})
    assert status == 201, body
    session_id = body["data"]["session_id"]
    status, body = await _reference(other, session_id, 0, chunk_id)
    assert status == 200, body
    status, body = await _json(other, "POST", f"/api/v1/files/upload/{session_id}/complete")
    assert status == 201, body
    assert (await other.download(body["data"]["file_id"]))[1] == secret


async def test_after_deleting_its_file_the_owner_can_no_longer_reference_the_chunk(
    api: ApiClient,
) -> None:
    _, chunk_id = await _victim_file(api, "deleted.bin")
    async with api.session.delete(api.fs_url("private/deleted.bin"),
                                  headers=api.auth) as r:
        assert r.status == 200, await r.text()
    assert (await _has(api, [chunk_id]))["present"] == {chunk_id: False}


async def test_an_admin_who_can_read_every_file_sees_every_files_chunks(api: ApiClient) -> None:
    _, chunk_id = await _victim_file(api, "admin-visible.bin")
    admin = await _other_user(api, ADMIN)
    assert (await _has(admin, [chunk_id]))["present"] == {chunk_id: True}


async def test_has_answers_a_batch_in_one_request(api: ApiClient) -> None:
    _, chunk_id = await _victim_file(api, "batch.bin")
    ids = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(900)]
    data = await _has(api, [*ids, chunk_id])
    assert len(data["present"]) == len(ids) + 1
    assert [c for c, present in data["present"].items() if present] == [chunk_id]


async def test_has_needs_a_token(api: ApiClient) -> None:
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.post(f"{api.base_url}/api/v1/chunks/has",
                                  json={"chunk_ids": []}) as r:
            assert r.status == 401
