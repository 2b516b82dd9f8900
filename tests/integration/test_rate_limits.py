"""Request rate limits per user and per API key (DESIGN §12): counted in Redis across
masters, 429 ``rate_limited`` with ``Retry-After`` past them, public routes untouched."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from tests.support.access import as_token, make_key, new_user, via
from tests.support.api import ApiClient
from tests.support.clusters import module_cluster
from tools.cluster import LocalCluster

pytestmark = pytest.mark.timeout(240)

PER_USER, PER_KEY, WINDOW_S = 8, 4, 3600


@pytest.fixture(scope="module")
def cluster(pg_server_url: str, redis_url: str) -> Iterator[LocalCluster]:
    limits = {"RATE_LIMIT_PER_USER": str(PER_USER), "RATE_LIMIT_PER_KEY": str(PER_KEY),
              "RATE_LIMIT_WINDOW_SECONDS": str(WINDOW_S)}
    with module_cluster(pg_server_url, redis_url, "rate-limits", workers=1,
                        replication_factor=1, with_controller=False,
                        master_env=limits) as running:
        running.start_master(name="master-b")
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        yield http


def _window() -> int:
    return int(time.time() // WINDOW_S)


async def _statuses(clients: list[ApiClient], count: int) -> list[tuple[int, dict, str]]:
    """``count`` profile requests, round robin over ``clients``: (status, body,
    Retry-After)."""
    answers = []
    for i in range(count):
        client = clients[i % len(clients)]
        async with client.session.get(f"{client.base_url}/api/v1/auth/profile",
                                      headers=client.auth) as r:
            answers.append((r.status, await r.json(), r.headers.get("Retry-After", "")))
    return answers


async def test_a_user_gets_its_limit_across_both_masters_then_429_with_retry_after(
    cluster: LocalCluster, session: aiohttp.ClientSession,
) -> None:
    for _ in range(2):  # a second try only if the clock's window changed meanwhile
        started = _window()
        user, _ = await new_user(cluster.master_url, session, "rl")
        answers = await _statuses([user, via(user, cluster.extra_master_urls["master-b"])],
                                  PER_USER + 4)
        if _window() == started:
            break
    assert [s for s, _, _ in answers] == [200] * PER_USER + [429] * 4
    for _, body, retry_after in answers[PER_USER:]:
        assert body["code"] == "rate_limited"
        assert 1 <= int(retry_after) <= WINDOW_S
    async with session.get(f"{cluster.master_url}/api/v1/health", headers=user.auth) as r:
        assert r.status == 200  # public routes are not counted
    async with session.post(f"{cluster.master_url}/api/v1/auth/login",
                            json={"username": "nobody-at-all", "password": "x" * 12}) as r:
        assert r.status == 401


async def test_an_api_key_has_its_own_limit_below_its_users(
    cluster: LocalCluster, session: aiohttp.ClientSession,
) -> None:
    for _ in range(2):
        started = _window()
        user, _ = await new_user(cluster.master_url, session, "rk")
        key = await make_key(user, permission="ro")
        by_key = await _statuses([as_token(user, key["token"])], PER_KEY + 2)
        by_login = await _statuses([user], 1)
        if _window() == started:
            break
    assert [s for s, _, _ in by_key] == [200] * PER_KEY + [429] * 2
    assert by_key[-1][1]["code"] == "rate_limited"
    assert by_login[0][0] == 200  # the key's limit is not its user's
