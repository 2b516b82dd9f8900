"""Uploads and downloads through real processes: sizes, routes, ranges, dedup, corruption."""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest

from tests.support.api import ApiClient
from tests.support.grpc_probe import holders_by_chunk
from tests.support.metrics import metric_sum
from tools.cluster import LocalCluster

MiB = 1024 * 1024
CS = 1 * MiB  # the integration cluster's CHUNK_SIZE


async def _upload(api: ApiClient, route: str, data: bytes, path: str) -> dict:
    if route == "multipart":
        status, body = await api.upload_multipart(data, path)
    else:
        status, body = await api.upload_raw(data, path)
    assert status == 201, body
    return body["data"]


@pytest.mark.parametrize("route", ["multipart", "raw"])
@pytest.mark.parametrize("size", [0, 1, CS - 1, CS, CS + 1, 3 * CS + 7])
async def test_round_trip_at_chunk_boundaries(api: ApiClient, route: str, size: int) -> None:
    data = os.urandom(size)
    receipt = await _upload(api, route, data, f"sizes/{route}/{size}.bin")
    assert receipt["size"] == size
    assert receipt["chunks"] == -(-size // CS)
    assert receipt["sha256"] == hashlib.sha256(data).hexdigest()
    status, downloaded, headers = await api.download(receipt["file_id"])
    assert status == 200
    assert downloaded == data
    assert int(headers["Content-Length"]) == size


@pytest.mark.parametrize("route", ["multipart", "raw"])
async def test_300_mib_round_trip(api: ApiClient, route: str) -> None:
    data = os.urandom(300 * MiB)
    receipt = await _upload(api, route, data, f"large/{route}.bin")
    assert receipt["chunks"] == 300
    status, downloaded, _ = await api.download(receipt["file_id"])
    assert status == 200
    assert hashlib.sha256(downloaded).digest() == hashlib.sha256(data).digest()


async def test_raw_upload_by_path_replaces_atomically_and_downloads_by_path(api: ApiClient) -> None:
    first, second = os.urandom(2 * CS + 3), os.urandom(CS // 2)
    one = await _upload(api, "raw", first, "versions/doc.bin")
    two = await _upload(api, "raw", second, "versions/doc.bin")
    assert one["file_id"] == two["file_id"]
    async with api.session.get(api.fs_url("versions/doc.bin"), headers=api.auth) as r:
        assert r.status == 200
        assert await r.read() == second
    status, listing = await api.get_json("/api/v1/files", params={"prefix": "versions/"})
    assert status == 200
    assert [f["size"] for f in listing["data"]["files"]] == [len(second)]


RANGES = [
    (0, CS - 1), (CS - 1, CS), (CS, 2 * CS - 1), (CS - 3, 2 * CS + 3), (2 * CS + 5, 3 * CS + 6),
    (0, 3 * CS + 6), (3 * CS + 6, 3 * CS + 6), (5, None), (None, 10), (None, CS + 1),
]


async def test_ranges_at_chunk_boundaries_match_python_slicing(api: ApiClient) -> None:
    data = os.urandom(3 * CS + 7)
    receipt = await _upload(api, "raw", data, "ranges/file.bin")
    for first, last in RANGES:
        spec = f"bytes={'' if first is None else first}-{'' if last is None else last}"
        status, body, headers = await api.download(receipt["file_id"], {"Range": spec})
        if first is None:
            expected, start = data[-last:], len(data) - last  # type: ignore[operator]
        else:
            expected, start = data[first : None if last is None else last + 1], first
        assert status == 206, spec
        assert body == expected, spec
        assert headers["Content-Range"] == f"bytes {start}-{start + len(expected) - 1}/{len(data)}"


async def test_unsatisfiable_range_is_416_and_stale_if_range_gets_the_whole_file(
    api: ApiClient,
) -> None:
    data = os.urandom(CS + 10)
    receipt = await _upload(api, "raw", data, "ranges/416.bin")
    status, body, _ = await api.download(receipt["file_id"], {"Range": f"bytes={len(data)}-"})
    assert status == 416
    status, body, _ = await api.download(
        receipt["file_id"], {"Range": "bytes=0-9", "If-Range": '"stale"'}
    )
    assert (status, body) == (200, data)
    status, body, _headers = await api.download(
        receipt["file_id"], {"Range": "bytes=0-9", "If-Range": f'"{receipt["sha256"]}"'}
    )
    assert (status, body) == (206, data[:10])
    async with api.session.head(
        f"{api.base_url}/api/v1/files/{receipt['file_id']}/download", headers=api.auth
    ) as r:
        assert r.status == 200
        assert int(r.headers["Content-Length"]) == len(data)
        assert r.headers["ETag"] == f'"{receipt["sha256"]}"'
        assert "attachment" in r.headers["Content-Disposition"]
        assert await r.read() == b""


async def _wait_for_copies(cluster: LocalCluster, chunk_ids: list[str], copies: int) -> None:
    addresses = {w.worker_id: w.address for w in cluster.workers.values()}
    for _ in range(150):
        holders = await asyncio.to_thread(holders_by_chunk, addresses, chunk_ids)
        if all(len(h) >= copies for h in holders.values()):
            return
        await asyncio.sleep(0.2)
    raise AssertionError("chunks never reached their copies")


async def test_uploading_the_same_64_mib_twice_sends_no_chunk_bytes_the_second_time(
    cluster: LocalCluster, api: ApiClient
) -> None:
    data = os.urandom(64 * MiB)
    first = await _upload(api, "raw", data, "dedup/first.bin")
    _, meta = await api.get_json(f"/api/v1/files/{first['file_id']}")
    await _wait_for_copies(cluster, [c["chunk_id"] for c in meta["data"]["chunks"]], 3)

    def received() -> float:
        return sum(
            metric_sum(w.metrics_url, "echofs_worker_bytes_received_total")
            for w in cluster.workers.values()
        )

    before = await asyncio.to_thread(received)
    second = await _upload(api, "multipart", data, "dedup/second.bin")
    after = await asyncio.to_thread(received)
    assert second["dedup_chunks"] == second["chunks"] == 64
    assert after - before == 0
    status, downloaded, _ = await api.download(second["file_id"])
    assert status == 200 and downloaded == data


async def test_corrupted_replicas_are_skipped_and_reported(
    cluster: LocalCluster, api: ApiClient
) -> None:
    data = os.urandom(9 * CS)
    receipt = await _upload(api, "raw", data, "corrupt/file.bin")
    _, meta = await api.get_json(f"/api/v1/files/{receipt['file_id']}")
    chunk_ids = [c["chunk_id"] for c in meta["data"]["chunks"]]
    await _wait_for_copies(cluster, chunk_ids, 3)
    workers = sorted(cluster.workers.values(), key=lambda w: w.worker_id)
    corrupted: dict[str, set[str]] = {}
    for i, chunk_id in enumerate(chunk_ids):
        # Each chunk keeps one good copy, on a different worker each time, so whichever
        # worker the master prefers, it meets corrupt copies.
        for j, worker in enumerate(workers):
            if j == i % 3:
                continue
            blob = worker.data_dir / "blobs" / chunk_id[:2] / chunk_id[2:4] / chunk_id
            raw = bytearray(blob.read_bytes())
            raw[64 + len(raw[64:]) // 2] ^= 0xFF
            blob.write_bytes(bytes(raw))
            corrupted.setdefault(chunk_id, set()).add(worker.worker_id)

    status, downloaded, _ = await api.download(receipt["file_id"])
    assert status == 200
    assert downloaded == data

    _, meta = await api.get_json(f"/api/v1/files/{receipt['file_id']}")
    reported = {
        (c["chunk_id"], r["worker_id"])
        for c in meta["data"]["chunks"]
        for r in c["replicas"]
        if r["state"] != "live"
    }
    assert reported, "no corrupt replica was reported"
    assert all(worker in corrupted[chunk] for chunk, worker in reported)
