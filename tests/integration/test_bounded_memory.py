"""A 2 GiB upload and download stream through the master without growing it by more than
a small multiple of the chunk size (bounded read-ahead and pipeline, no buffering)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from tests.support.api import ApiClient
from tests.support.clusters import module_cluster
from tests.support.rss import RssSampler
from tools.cluster import LocalCluster

MiB = 1024 * 1024
SIZE = 2 * 1024 * MiB
RSS_GROWTH_LIMIT = 256 * MiB


@pytest.fixture(scope="module")
def cluster(pg_server_url: str, redis_url: str) -> Iterator[LocalCluster]:
    with module_cluster(
        pg_server_url, redis_url, "memory", workers=3, chunk_size=4 * MiB
    ) as running:
        yield running


async def _body(size: int, digest: hashlib._Hash) -> AsyncIterator[bytes]:
    sent = 0
    while sent < size:
        piece = os.urandom(min(MiB, size - sent))
        digest.update(piece)
        sent += len(piece)
        yield piece


async def test_2_gib_streamed_upload_and_download_keep_master_rss_growth_under_256_mib(
    cluster: LocalCluster,
) -> None:
    assert cluster.master is not None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=900)) as session:
        api = ApiClient(cluster.master_url, session)
        await api.register_and_login()
        sent_digest = hashlib.sha256()
        with RssSampler({"master": cluster.master.pid}) as upload_rss:
            async with session.put(
                api.fs_url("big/2g.bin"),
                data=_body(SIZE, sent_digest),
                headers=api.auth,
            ) as r:
                body = await r.json()
        assert r.status == 201, body
        assert body["data"]["size"] == SIZE
        assert body["data"]["sha256"] == sent_digest.hexdigest()

        received = hashlib.sha256()
        received_bytes = 0
        with RssSampler({"master": cluster.master.pid}) as download_rss:
            async with session.get(api.fs_url("big/2g.bin"), headers=api.auth) as r:
                assert r.status == 200
                async for piece in r.content.iter_chunked(MiB):
                    received.update(piece)
                    received_bytes += len(piece)
        assert received_bytes == SIZE
        assert received.hexdigest() == sent_digest.hexdigest()

    growth = {"upload": upload_rss.growth()["master"], "download": download_rss.growth()["master"]}
    print(
        f"master RSS growth: upload {growth['upload'] / MiB:.1f} MiB, "
        f"download {growth['download'] / MiB:.1f} MiB"
    )
    assert growth["upload"] < RSS_GROWTH_LIMIT, growth
    assert growth["download"] < RSS_GROWTH_LIMIT, growth
