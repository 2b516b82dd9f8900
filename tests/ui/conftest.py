"""The web UI tests' shared parts: one real cluster (master, 3 workers and the
controller as processes) and one Debian chromium for the whole package (issue 22,
DESIGN §18). No browser is ever downloaded: ``make tools`` installs Debian's chromium."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, async_playwright

from tests.support.clusters import module_cluster
from tests.support.ui_browser import ADMIN, CHROMIUM
from tools.cluster import LocalCluster

MiB = 1024 * 1024


@pytest.fixture(scope="package")
def cluster(pg_server_url: str, redis_url: str) -> Iterator[LocalCluster]:
    with module_cluster(pg_server_url, redis_url, "ui", workers=3, chunk_size=4 * MiB,
                        master_env={"ADMIN_USERS": ADMIN, "PROBE_INTERVAL_SECONDS": "0.5",
                                    "WORKER_DOWN_AFTER_SECONDS": "4"}) as running:
        yield running


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[Browser]:
    if not await asyncio.to_thread(CHROMIUM.exists):
        pytest.fail("Debian's chromium is missing: run `make tools` (make test does)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield launched
        await launched.close()
