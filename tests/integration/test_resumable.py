"""Resumable uploads: parallel chunk sessions across a master restart, tus 1.0 with a
real tus client, content-aware resume, and every documented error."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import os
import random
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from tusclient import client as tus_client

from tests.support.api import ApiClient
from tests.support.clusters import module_cluster
from tests.support.db import query
from tests.support.metrics import metric_sum
from tools.cluster import LocalCluster

MiB = 1024 * 1024
CS = 1 * MiB


@pytest.fixture(scope="module")
def cluster(pg_server_url: str, redis_url: str) -> Iterator[LocalCluster]:
    with module_cluster(pg_server_url, redis_url, "resumable", workers=3, chunk_size=CS,
                        master_env={"MAX_OPEN_SESSIONS_PER_USER": "4",
                                    "MAX_UPLOAD_BYTES": str(512 * MiB)}) as running:
        yield running


@pytest.fixture
async def api(cluster: LocalCluster) -> AsyncIterator[ApiClient]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        client = ApiClient(cluster.master_url, session)
        await client.register_and_login()
        yield client


async def _json(api: ApiClient, method: str, path: str, **kwargs: object) -> tuple[int, dict]:
    async with api.session.request(method, f"{api.base_url}{path}",  # type: ignore[arg-type]
                                   headers=api.auth, **kwargs) as r:
        return r.status, await r.json()


async def _init(api: ApiClient, data: bytes, name: str, **extra: object) -> dict:
    status, body = await _json(api, "POST", "/api/v1/files/upload/init", json={
        "file_name": name, "file_size": len(data), "path": f"sessions/{name}",
        "sha256": hashlib.sha256(data).hexdigest(), **extra})
    assert status == 201, body
    return body["data"]


async def _put_part(api: ApiClient, session_id: str, index: int, data: bytes,
                    chunk_size: int = CS) -> tuple[int, dict]:
    part = data[index * chunk_size : (index + 1) * chunk_size]
    return await _json(api, "PUT", f"/api/v1/files/upload/{session_id}/chunks/{index}",
                       data=io.BytesIO(part))


async def test_parallel_out_of_order_session_survives_a_master_kill_and_completes(
    cluster: LocalCluster, api: ApiClient
) -> None:
    data = os.urandom(100 * MiB)
    session = await _init(api, data, "hundred.bin")
    assert session["total_chunks"] == 100
    order = list(range(100))
    random.Random(5).shuffle(order)
    first_half, second_half = order[:50], order[50:]

    async def client(indexes: list[int]) -> None:
        for index in indexes:
            status, body = await _put_part(api, session["session_id"], index, data)
            assert status == 200, body

    await asyncio.gather(*(client(first_half[i::4]) for i in range(4)))
    assert cluster.master is not None
    cluster.master.kill()
    cluster.start_master()
    cluster.wait_workers_registered(3)

    status, body = await _json(api, "GET", f"/api/v1/files/upload/{session['session_id']}")
    assert status == 200
    assert sorted(body["data"]["received"]) == sorted(first_half)
    assert sorted(body["data"]["missing"]) == sorted(second_half)

    await asyncio.gather(*(client(second_half[i::4]) for i in range(4)))
    status, body = await _json(
        api, "POST", f"/api/v1/files/upload/{session['session_id']}/complete"
    )
    assert status == 201, body
    receipt = body["data"]
    assert receipt["sha256"] == hashlib.sha256(data).hexdigest()
    assert receipt["chunks"] == 100
    status, downloaded, _ = await api.download(receipt["file_id"])
    assert status == 200 and downloaded == data


async def test_resending_a_part_is_idempotent_and_a_wrong_size_is_400(api: ApiClient) -> None:
    data = os.urandom(2 * CS + 100)
    session = await _init(api, data, "idempotent.bin")
    sid = session["session_id"]
    assert (await _put_part(api, sid, 0, data))[1]["data"]["already_present"] is False
    assert (await _put_part(api, sid, 0, data))[1]["data"]["already_present"] is True
    status, body = await _json(
        api, "PUT", f"/api/v1/files/upload/{sid}/chunks/2", data=io.BytesIO(b"short")
    )
    assert (status, body["code"]) == (400, "invalid_input")
    status, body = await _json(
        api, "PUT", f"/api/v1/files/upload/{sid}/chunks/3", data=io.BytesIO(b"x")
    )
    assert (status, body["code"]) == (400, "invalid_input")


async def test_completing_with_a_missing_index_is_409_and_keeps_the_parts(api: ApiClient) -> None:
    data = os.urandom(3 * CS)
    session = await _init(api, data, "missing.bin")
    sid = session["session_id"]
    for index in (0, 2):
        assert (await _put_part(api, sid, index, data))[0] == 200
    status, body = await _json(api, "POST", f"/api/v1/files/upload/{sid}/complete")
    assert (status, body["code"]) == (409, "incomplete_upload")
    assert body["details"]["missing"] == [1]
    assert (await _put_part(api, sid, 1, data))[0] == 200
    status, body = await _json(api, "POST", f"/api/v1/files/upload/{sid}/complete")
    assert status == 201, body
    status, downloaded, _ = await api.download(body["data"]["file_id"])
    assert downloaded == data


async def test_a_whole_file_checksum_mismatch_is_400_and_the_session_stays_usable(
    api: ApiClient,
) -> None:
    data = os.urandom(2 * CS)
    wrong = bytearray(data)
    wrong[5] ^= 1
    session = await _init(api, data, "checksum.bin")
    sid = session["session_id"]
    await _put_part(api, sid, 0, bytes(wrong))
    await _put_part(api, sid, 1, data)
    status, body = await _json(api, "POST", f"/api/v1/files/upload/{sid}/complete")
    assert (status, body["code"]) == (400, "checksum_mismatch")
    await _put_part(api, sid, 0, data)
    status, body = await _json(api, "POST", f"/api/v1/files/upload/{sid}/complete")
    assert status == 201, body
    assert (await api.download(body["data"]["file_id"]))[1] == data


async def test_an_expired_session_is_410_and_aborted_one_takes_no_parts(
    cluster: LocalCluster, api: ApiClient
) -> None:
    data = os.urandom(2 * CS)
    session = await _init(api, data, "expired.bin")
    sid = session["session_id"]
    await _put_part(api, sid, 0, data)
    query(
        cluster.spec.database_url,
        "UPDATE upload_sessions SET expires_at = now() - interval '1 second' WHERE id = %s "
        "RETURNING id",
        (sid,),
    )
    for method, suffix in (("GET", ""), ("POST", "/complete")):
        status, body = await _json(api, method, f"/api/v1/files/upload/{sid}{suffix}")
        assert (status, body["code"]) == (410, "session_expired")
    status, body = await _put_part(api, sid, 1, data)
    assert (status, body["code"]) == (410, "session_expired")

    other = await _init(api, data, "aborted.bin")
    status, _ = await _json(api, "DELETE", f"/api/v1/files/upload/{other['session_id']}")
    assert status == 200
    status, body = await _put_part(api, other["session_id"], 0, data)
    assert (status, body["code"]) == (409, "session_closed")


async def test_per_user_limits_are_clear_4xx(api: ApiClient) -> None:
    status, body = await _json(
        api, "POST", "/api/v1/files/upload/init", json={"file_name": "huge", "file_size": 10**13}
    )
    assert (status, body["code"]) == (413, "payload_too_large")
    opened = []
    for i in range(4):
        status, body = await _json(
            api, "POST", "/api/v1/files/upload/init", json={"file_name": f"n{i}", "file_size": 10}
        )
        assert status == 201, body
        opened.append(body["data"]["session_id"])
    status, body = await _json(
        api,
        "POST",
        "/api/v1/files/upload/init",
        json={"file_name": "one-too-many", "file_size": 10},
    )
    assert (status, body["code"]) == (429, "too_many_requests")
    for sid in opened:
        await _json(api, "DELETE", f"/api/v1/files/upload/{sid}")


async def test_resuming_with_chunks_the_cluster_holds_sends_only_the_missing_bytes(
    cluster: LocalCluster, api: ApiClient
) -> None:
    data = os.urandom(16 * CS)
    status, _ = await api.upload_raw(data[: 10 * CS], "sessions/first-ten.bin")
    assert status == 201
    session = await _init(api, data, "resume.bin")
    sid = session["session_id"]
    ids = [hashlib.sha256(data[i * CS : (i + 1) * CS]).hexdigest() for i in range(16)]
    status, body = await _json(api, "POST", "/api/v1/chunks/has", json={"chunk_ids": ids})
    assert status == 200
    present = body["data"]["present"]
    assert [present[c] for c in ids] == [True] * 10 + [False] * 6

    bytes_in_before = await asyncio.to_thread(
        metric_sum, f"{cluster.master_url}/metrics", "echofs_bytes_in_total"
    )
    for index, chunk_id in enumerate(ids):
        if present[chunk_id]:
            async with api.session.put(
                f"{api.base_url}/api/v1/files/upload/{sid}/chunks/{index}",
                headers={**api.auth, "X-Chunk-Id": chunk_id},
            ) as r:
                assert r.status == 200, await r.text()
        else:
            assert (await _put_part(api, sid, index, data))[0] == 200
    status, body = await _json(api, "POST", f"/api/v1/files/upload/{sid}/complete")
    assert status == 201, body
    bytes_in_after = await asyncio.to_thread(
        metric_sum, f"{cluster.master_url}/metrics", "echofs_bytes_in_total"
    )
    assert bytes_in_after - bytes_in_before == 6 * CS
    assert (await api.download(body["data"]["file_id"]))[1] == data


# -- tus ---------------------------------------------------------------------------------

TUS = {"Tus-Resumable": "1.0.0"}


def _metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


async def _tus_create(api: ApiClient, length: int, name: str) -> str:
    async with api.session.post(
        f"{api.base_url}/api/v1/tus/",
        headers={
            **api.auth,
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": _metadata(filename=name, path=f"tus/{name}"),
        },
    ) as r:
        assert r.status == 201, await r.text()
        return r.headers["Location"]


async def _tus_patch(
    api: ApiClient, url: str, offset: int, body: object, extra: dict[str, str] | None = None
) -> aiohttp.ClientResponse:
    if isinstance(body, bytes):
        body = io.BytesIO(body)
    async with api.session.patch(
        url,
        data=body,
        headers={
            **api.auth,
            **TUS,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
            **(extra or {}),
        },
    ) as r:
        await r.read()
        return r


async def _tus_offset(api: ApiClient, url: str) -> int:
    async with api.session.head(url, headers={**api.auth, **TUS}) as r:
        assert r.status == 200
        return int(r.headers["Upload-Offset"])


async def test_tuspy_uploads_50_mib_is_interrupted_resumes_and_downloads_intact(
    cluster: LocalCluster, api: ApiClient
) -> None:
    data = os.urandom(50 * MiB)

    def upload_in_two_goes() -> str:
        client = tus_client.TusClient(f"{api.base_url}/api/v1/tus/", headers=api.auth)
        first = client.uploader(
            file_stream=io.BytesIO(data),
            chunk_size=3 * MiB,
            metadata={"filename": "tuspy.bin", "path": "tus/tuspy.bin"},
        )
        first.upload(stop_at=20 * MiB)  # the interruption: this client stops here
        assert first.url is not None
        resumed = client.uploader(
            file_stream=io.BytesIO(data), url=first.url, chunk_size=3 * MiB, upload_checksum=True
        )
        assert 0 < resumed.offset < len(data)
        resumed.upload()
        assert resumed.offset == len(data)
        return first.url

    url = await asyncio.to_thread(upload_in_two_goes)
    async with api.session.get(api.fs_url("tus/tuspy.bin"), headers=api.auth) as r:
        assert r.status == 200
        assert hashlib.sha256(await r.read()).digest() == hashlib.sha256(data).digest()
    assert await _tus_offset(api, url) == len(data)


async def test_tus_bytes_survive_a_master_restart(cluster: LocalCluster, api: ApiClient) -> None:
    data = os.urandom(3 * CS + 12345)
    url = await _tus_create(api, len(data), "restart.bin")
    r = await _tus_patch(api, url, 0, data[: CS + 777])
    assert (r.status, r.headers["Upload-Offset"]) == (204, str(CS + 777))
    assert cluster.master is not None
    cluster.master.kill()
    cluster.start_master()
    cluster.wait_workers_registered(3)
    assert await _tus_offset(api, url) == CS + 777
    r = await _tus_patch(api, url, CS + 777, data[CS + 777 :])
    assert r.status == 204
    assert "X-Echofs-File-Id" in r.headers
    file_id = r.headers["X-Echofs-File-Id"]
    assert (await api.download(file_id))[1] == data


async def test_tus_errors_are_documented_and_lose_nothing(api: ApiClient) -> None:
    data = os.urandom(2 * CS + 10)
    url = await _tus_create(api, len(data), "errors.bin")
    assert (await _tus_patch(api, url, 0, data[:1000])).status == 204

    r = await _tus_patch(api, url, 0, data[:1000])
    assert r.status == 409  # offset mismatch
    r = await _tus_patch(
        api,
        url,
        1000,
        data[1000:2000],
        {"Upload-Checksum": "sha256 " + base64.b64encode(b"\0" * 32).decode()},
    )
    assert r.status == 460  # checksum mismatch: nothing recorded
    assert await _tus_offset(api, url) == 1000

    release = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield data[1000:2000]
        await release.wait()
        yield data[2000:3000]

    first = asyncio.create_task(_tus_patch(api, url, 1000, slow_body()))
    await asyncio.sleep(1.0)
    second = await _tus_patch(api, url, 1000, data[1000:3000])
    release.set()
    assert second.status == 409  # the first PATCH holds the upload's lease
    assert (await first).status == 204
    offset = await _tus_offset(api, url)
    assert offset == 3000
    digest = base64.b64encode(hashlib.sha256(data[offset:]).digest()).decode()
    r = await _tus_patch(api, url, offset, data[offset:], {"Upload-Checksum": f"sha256 {digest}"})
    assert r.status == 204
    assert (await api.download(r.headers["X-Echofs-File-Id"]))[1] == data

    async with api.session.post(
        f"{api.base_url}/api/v1/tus/", headers={**api.auth, "Upload-Length": "5"}
    ) as r:
        assert r.status == 412  # Tus-Resumable missing
        assert r.headers["Tus-Version"] == "1.0.0"  # what the client negotiates with
        assert (await r.json())["code"] == "precondition_failed"
    gone = await _tus_create(api, 10, "terminated.bin")
    async with api.session.delete(gone, headers={**api.auth, **TUS}) as r:
        assert r.status == 204
    assert (await _tus_patch(api, gone, 0, b"0123456789")).status == 409
