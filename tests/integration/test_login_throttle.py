"""A password guesser is locked out per username and per client address (Redis-backed
fixed windows): 429 rate_limited with Retry-After, before the password is checked."""

from __future__ import annotations

import asyncio
import itertools
import re
import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from tests.support.clusters import module_cluster
from tools.cluster import LocalCluster

# Long enough that every test's failures land in one window even on a loaded 2-core
# machine (each login hashes a password); tests never wait for a whole window between
# them: each speaks from a loopback address of its own (127.0.0.0/8 is all local).
WINDOW_S = 10
_SOURCE_ADDRESSES = (f"127.0.0.{n}" for n in itertools.count(2))
PER_USER = 5
PER_ADDRESS = 12
PASSWORD = "the-right-password"


@pytest.fixture(scope="module")
def cluster(pg_server_url: str, redis_url: str) -> Iterator[LocalCluster]:
    with module_cluster(pg_server_url, redis_url, "throttle", workers=1, replication_factor=1,
                        master_env={"LOGIN_WINDOW_SECONDS": str(WINDOW_S),
                                    "LOGIN_MAX_FAILURES": str(PER_USER),
                                    "LOGIN_MAX_FAILURES_PER_ADDRESS": str(PER_ADDRESS)}) as running:
        yield running


@pytest.fixture
async def http(cluster: LocalCluster) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(local_addr=(next(_SOURCE_ADDRESSES), 0))
    async with aiohttp.ClientSession(base_url=cluster.master_url, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


async def _register(http: aiohttp.ClientSession) -> str:
    username = f"u{uuid.uuid4().hex[:10]}"
    async with http.post("/api/v1/auth/register",
                         json={"username": username, "password": PASSWORD}) as r:
        assert r.status == 201, await r.text()
    return username


async def _login(http: aiohttp.ClientSession, username: str,
                 password: str) -> tuple[int, dict, CIMultiDictProxy[str]]:
    async with http.post("/api/v1/auth/login",
                         json={"username": username, "password": password}) as r:
        return r.status, await r.json(), r.headers


async def test_after_five_wrong_passwords_even_the_right_one_is_refused_until_the_window_ends(
    http: aiohttp.ClientSession,
) -> None:
    username = await _register(http)
    for attempt in range(PER_USER):
        status, body, _ = await _login(http, username, f"guess-{attempt}")
        assert (status, body["code"]) == (401, "bad_credentials"), body

    status, body, headers = await _login(http, username, "guess-6")
    assert (status, body["code"], body["success"], body["data"]) == (
        429, "rate_limited", False, None), body
    assert 1 <= int(headers["Retry-After"]) <= WINDOW_S
    status, body, headers = await _login(http, username, PASSWORD)
    assert (status, body["code"]) == (429, "rate_limited"), "a right guess must not show"
    assert "token" not in str(body)

    await asyncio.sleep(int(headers["Retry-After"]) + 0.5)
    status, body, _ = await _login(http, username, PASSWORD)
    assert status == 200, body
    assert body["data"]["token"]


async def test_unknown_usernames_are_locked_out_like_real_ones(
    http: aiohttp.ClientSession,
) -> None:
    real, unknown = await _register(http), f"nobody-{uuid.uuid4().hex[:8]}"
    replies = {}
    for username in (real, unknown):
        for attempt in range(PER_USER):
            await _login(http, username, f"guess-{attempt}")
        status, body, headers = await _login(http, username, "one-more")
        # The message names the seconds left, which may tick between the two names.
        message = re.sub(r"\d+", "N", body["message"])
        replies[username] = (status, body["code"], message, "Retry-After" in headers)
    assert replies[real] == replies[unknown]
    assert replies[real][:2] == (429, "rate_limited")


async def test_a_successful_login_clears_the_username_count(http: aiohttp.ClientSession) -> None:
    username = await _register(http)
    for round_ in range(2):
        for attempt in range(PER_USER - 1):
            status, _, _ = await _login(http, username, f"guess-{round_}-{attempt}")
            assert status == 401
        status, body, _ = await _login(http, username, PASSWORD)
        assert status == 200, body


async def test_one_address_guessing_many_names_is_locked_out_for_every_name(
    http: aiohttp.ClientSession,
) -> None:
    victims = [await _register(http) for _ in range(4)]
    failures = 0
    while failures < PER_ADDRESS:  # at most 3 failures per name: under the per-user limit
        status, body, _ = await _login(http, victims[failures % 4], f"guess-{failures}")
        assert status == 401, body
        failures += 1
    fresh = await _register(http)
    status, body, headers = await _login(http, fresh, PASSWORD)
    assert (status, body["code"]) == (429, "rate_limited"), body
    assert 1 <= int(headers["Retry-After"]) <= WINDOW_S
