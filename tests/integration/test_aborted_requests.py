"""A client that goes away mid-request is not a server error: it is counted as 499
(client closed request), logged without a traceback, and nothing of its upload commits."""

from __future__ import annotations

import asyncio
import os
import uuid
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

from tests.support.api import ApiClient
from tests.support.db import query
from tools.cluster import LocalCluster

MiB = 1024 * 1024


async def _requests_by_status(api: ApiClient, route: str) -> dict[str, float]:
    async with api.session.get(f"{api.base_url}/metrics") as r:
        text = await r.text()
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (sample.name == "echofs_http_requests_total"
                    and sample.labels.get("route") == route):
                status = sample.labels["status"]
                counts[status] = counts.get(status, 0.0) + sample.value
    return counts


async def _send_half_and_close(api: ApiClient, method: str, target: str,
                               headers: dict[str, str], declared: int, sent: bytes) -> None:
    """Raw HTTP/1.1: the headers announce ``declared`` bytes, only ``sent`` follow."""
    url = urlsplit(api.base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    head = "".join(f"{k}: {v}\r\n" for k, v in {
        "Host": url.netloc, "Content-Length": str(declared), **headers}.items())
    writer.write(f"{method} {target} HTTP/1.1\r\n{head}\r\n".encode() + sent)
    await writer.drain()
    await asyncio.sleep(0.3)  # the master is reading the body now
    writer.transport.abort()  # RST, as a killed client would
    writer.close()
    del reader


async def _wait_for_count(api: ApiClient, route: str, status: str, at_least: float) -> dict:
    for _ in range(100):
        counts = await _requests_by_status(api, route)
        if counts.get(status, 0.0) >= at_least:
            return counts
        await asyncio.sleep(0.1)
    return await _requests_by_status(api, route)


async def test_a_client_that_closes_mid_upload_is_a_499_and_commits_nothing(
    cluster: LocalCluster, api: ApiClient
) -> None:
    route = "/api/v1/fs/{bucket}/{path}"
    path = f"aborted/{uuid.uuid4().hex[:8]}.bin"
    before = await _requests_by_status(api, route)
    await _send_half_and_close(api, "PUT", f"/api/v1/fs/{api.home_bucket}/{path}",
                               api.auth,
                               declared=6 * MiB, sent=os.urandom(3 * MiB))

    after = await _wait_for_count(api, route, "499", before.get("499", 0.0) + 1)
    assert after.get("499", 0.0) == before.get("499", 0.0) + 1, after
    assert after.get("500", 0.0) == before.get("500", 0.0), after
    async with api.session.get(api.fs_url(f"{path}"), headers=api.auth) as r:
        assert r.status == 404
    assert query(cluster.spec.database_url,
                 "SELECT v.id FROM files f JOIN file_versions v ON v.file_id = f.id"
                 " WHERE f.path = %s", (path,)) == []
    log_text = (cluster.spec.base_dir / "logs" / "master.log").read_text(errors="replace")
    assert "unhandled error" not in log_text
    assert "Traceback" not in log_text


async def test_a_client_that_closes_mid_part_is_a_499_and_records_no_part(
    cluster: LocalCluster, api: ApiClient
) -> None:
    route = "/api/v1/files/upload/{session_id}/chunks/{index}"
    async with api.session.post(f"{api.base_url}/api/v1/files/upload/init", headers=api.auth,
                                json={"file_name": "p.bin", "file_size": 2 * MiB}) as r:
        assert r.status == 201, await r.text()
        session_id = (await r.json())["data"]["session_id"]
    before = await _requests_by_status(api, route)
    await _send_half_and_close(api, "PUT", f"/api/v1/files/upload/{session_id}/chunks/0",
                               api.auth, declared=MiB, sent=os.urandom(MiB // 2))

    after = await _wait_for_count(api, route, "499", before.get("499", 0.0) + 1)
    assert after.get("499", 0.0) == before.get("499", 0.0) + 1, after
    assert after.get("500", 0.0) == before.get("500", 0.0), after
    async with api.session.get(f"{api.base_url}/api/v1/files/upload/{session_id}",
                               headers=api.auth) as r:
        assert (await r.json())["data"]["received"] == []
    log_text = (cluster.spec.base_dir / "logs" / "master.log").read_text(errors="replace")
    assert "unhandled error" not in log_text


async def test_a_client_that_closes_mid_multipart_upload_is_a_499_and_commits_nothing(
    cluster: LocalCluster, api: ApiClient
) -> None:
    route = "/api/v1/files/upload"
    path = f"aborted/{uuid.uuid4().hex[:8]}.bin"
    boundary = uuid.uuid4().hex
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="path"\r\n\r\n{path}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    before = await _requests_by_status(api, route)
    await _send_half_and_close(
        api, "POST", route,
        {**api.auth, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        declared=len(head) + 6 * MiB, sent=head + os.urandom(3 * MiB))

    after = await _wait_for_count(api, route, "499", before.get("499", 0.0) + 1)
    assert after.get("499", 0.0) == before.get("499", 0.0) + 1, after
    assert after.get("500", 0.0) == before.get("500", 0.0), after
    assert query(cluster.spec.database_url,
                 "SELECT id FROM files WHERE path = %s", (path,)) == []
