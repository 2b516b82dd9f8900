"""The clients' send loops over httpx's in-memory transport: failover to the next
master, retries only where safe, errors as classes, the token sent and never needed
for health."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from client import AsyncClient, Client, ClientConfig, ConnectionFailed
from client.retry import RetryPolicy
from common.errors import ChunkCorrupt, QuorumNotReached, Unauthenticated

FAST = RetryPolicy(attempts=3, base_delay_s=0.0, jitter=lambda: 0.0)
CONFIG = ClientConfig(("http://m1:8080", "http://m2:8080"), "tok", None, None)
PAGE = {"success": True, "message": "ok",
        "data": {"bucket": "b", "path": "", "entries": [], "next_cursor": None}}


def _answer(status: int, body: dict[str, object], **headers: str) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)


def _error(status: int, code: str) -> httpx.Response:
    return _answer(status, {"success": False, "message": code, "code": code, "data": None})


def _recording(handler: Callable[[httpx.Request], httpx.Response]
               ) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)
    return httpx.MockTransport(record), seen


def test_a_refused_master_hands_over_to_the_next_which_is_then_kept() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "m1":
            raise httpx.ConnectError("refused", request=request)
        return _answer(200, PAGE)
    transport, seen = _recording(handler)
    with Client(CONFIG, policy=FAST, transport=transport) as client:
        assert client.list_dir("b").entries == ()
        assert client.list_dir("b").entries == ()
    assert [r.url.host for r in seen] == ["m1", "m2", "m2"]
    assert seen[1].headers["Authorization"] == "Bearer tok"


def test_503_is_retried_for_a_listing_but_not_for_completing_an_upload() -> None:
    transport, seen = _recording(lambda r: _error(503, "quorum_not_reached"))
    with Client(CONFIG, policy=FAST, transport=transport) as client:
        with pytest.raises(QuorumNotReached):
            client.list_dir("b")
        assert len(seen) == 3
        seen.clear()
        with pytest.raises(QuorumNotReached):
            client.complete_session("sid")
        assert len(seen) == 1


def test_a_lost_answer_to_a_post_is_not_sent_again() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("reset", request=request)
    transport, seen = _recording(handler)
    with Client(CONFIG, policy=FAST, transport=transport) as client:
        with pytest.raises(ConnectionFailed):
            client.init_session("b/p", "p", 10)
    assert len(seen) == 1


def test_429_with_retry_after_is_retried_then_succeeds() -> None:
    answers = iter([_answer(429, {"code": "too_many_requests"}, **{"Retry-After": "0"}),
                    _answer(200, PAGE)])
    transport, seen = _recording(lambda r: next(answers))
    with Client(CONFIG, policy=FAST, transport=transport) as client:
        assert client.list_dir("b/d").next_cursor is None
    assert len(seen) == 2


def test_without_a_token_nothing_is_sent_but_health_needs_none() -> None:
    health = {"status": "ok", "checks": {"postgres": "ok", "redis": "ok",
                                         "workers_healthy": 3, "workers_total": 3}}
    transport, seen = _recording(lambda r: _answer(200, {"data": health}))
    with Client(ClientConfig(("http://m1:1",)), policy=FAST, transport=transport) as client:
        with pytest.raises(Unauthenticated):
            client.list_dir("b")
        assert seen == []
        assert client.health().workers_healthy == 3
    assert "Authorization" not in seen[0].headers


async def test_the_async_client_follows_the_same_rules() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "m1":
            raise httpx.ConnectError("refused", request=request)
        return _answer(200, PAGE)
    seen: list[str] = []

    async def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        return handler(request)
    async with AsyncClient(CONFIG, policy=FAST, transport=httpx.MockTransport(record)) as client:
        assert (await client.list_dir("b")).entries == ()
    assert seen == ["m1", "m2"]


def test_ls_follows_the_directory_cursor_and_buckets_are_listed_at_their_route() -> None:
    pages = {None: {"bucket": "b", "path": "d", "next_cursor": "c1", "entries": [
        {"name": "sub", "type": "dir", "size": 0, "etag": None, "modified": "t0"}]},
             "c1": {"bucket": "b", "path": "d", "next_cursor": None, "entries": [
        {"name": "f", "type": "file", "size": 5, "etag": "e", "modified": "t1"}]}}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/buckets":
            return _answer(200, {"data": {"buckets": [
                {"name": "b", "permission": "owner", "used_bytes": 5, "files": 1,
                 "home": True}]}})
        assert request.url.path == "/api/v1/fs/b/d/"
        return _answer(200, {"data": pages[request.url.params.get("cursor")]})
    transport, seen = _recording(handler)
    with Client(CONFIG, policy=FAST, transport=transport) as client:
        entries = client.ls("b/d")
        assert [(e.name, e.type, e.size) for e in entries] == [("sub", "dir", 0),
                                                                ("f", "file", 5)]
        assert [(b.name, b.home) for b in client.buckets()] == [("b", True)]
    assert len(seen) == 3


def test_a_proxys_502_fails_over_to_the_next_master_but_a_masters_502_is_final() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "m1":
            return httpx.Response(502, content=b"<html>Bad Gateway</html>")
        return _error(502, "chunk_corrupt")
    transport, seen = _recording(handler)
    with Client(CONFIG, policy=FAST, transport=transport) as client:
        with pytest.raises(ChunkCorrupt):
            client.list_dir("b")
    assert [r.url.host for r in seen] == ["m1", "m2"]


def test_bucket_listing_follows_next_after_pages() -> None:
    def bucket(name: str) -> dict[str, object]:
        return {"name": name, "permission": "owner", "used_bytes": 0, "files": 0,
                "home": False, "versioning": True, "keep_versions": 3, "keep_days": None}

    def handler(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("after")
        if after is None:
            return _answer(200, {"data": {"buckets": [bucket("a")], "next_after": "a"}})
        assert after == "a"
        return _answer(200, {"data": {"buckets": [bucket("b")], "next_after": None}})
    transport, seen = _recording(handler)
    with Client(CONFIG, policy=FAST, transport=transport) as client:
        found = client.buckets()
    assert [(b.name, b.versioning, b.keep_versions, b.keep_days) for b in found] == [
        ("a", True, 3, None), ("b", True, 3, None)]
    assert len(seen) == 2
