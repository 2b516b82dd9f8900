"""The namespace and bucket calls of the SDK over httpx's in-memory transport: which
route, method and body each sends, which may be retried, and the typed results."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from client import AsyncClient, Client, ClientConfig, ConnectionFailed
from client.errors import TaskFailed
from client.retry import RetryPolicy
from common.errors import BadPath, Conflict

FAST = RetryPolicy(attempts=3, base_delay_s=0.0, jitter=lambda: 0.0)
CONFIG = ClientConfig(("http://m1:8080",), "tok", None, None)


def _ok(data: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(
        {"success": True, "message": "ok", "data": data}).encode())


def _client(handler: Callable[[httpx.Request], httpx.Response]
            ) -> tuple[Client, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)
    return Client(CONFIG, policy=FAST, transport=httpx.MockTransport(record)), seen


def test_mkdir_posts_the_directory_route_and_a_bucket_root_is_refused_before_sending() -> None:
    client, seen = _client(lambda r: _ok({"bucket": "b", "path": "a/b", "created": True}, 201))
    with client:
        made = client.mkdir("b/a/b")
        with pytest.raises(BadPath):
            client.mkdir("b")
    assert (made.bucket, made.path, made.created) == ("b", "a/b", True)
    assert [(r.method, r.url.path) for r in seen] == [("POST", "/api/v1/fs/b/a/b/")]


def test_move_and_copy_send_from_to_overwrite_and_target_conditions() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        return _ok({"from": body["from"], "to": body["to"], "files": 3})
    client, seen = _client(handler)
    with client:
        moved = client.move("b/x/", "c//y", overwrite=True, if_match="abc")
        copied = client.copy("b/x", "b/z", if_none_match=True)
    assert moved.to_json() == {"op": "move", "source": "b/x", "target": "c/y", "files": 3}
    assert (copied.op, copied.target) == ("copy", "b/z")
    assert [r.url.path for r in seen] == ["/api/v1/ops/move", "/api/v1/ops/copy"]
    assert json.loads(seen[0].content) == {"from": "b/x", "to": "c/y", "overwrite": True}
    assert seen[0].headers["If-Match"] == '"abc"' and seen[1].headers["If-None-Match"] == "*"


def test_a_move_whose_answer_is_lost_is_not_sent_again() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("reset", request=request)
    client, seen = _client(handler)
    with client, pytest.raises(ConnectionFailed):
        client.move("b/x", "b/y")
    assert len(seen) == 1


def test_a_conflict_is_the_conflict_class() -> None:
    client, _ = _client(lambda r: httpx.Response(409, content=json.dumps(
        {"success": False, "code": "conflict", "message": "'y' exists"}).encode()))
    with client, pytest.raises(Conflict, match="'y' exists"):
        client.copy("b/x", "b/y")


def test_versions_and_restore() -> None:
    versions = [{"version_id": "v2", "size": 0, "etag": None, "modified": "t2",
                 "current": True, "deleted": True},
                {"version_id": "v1", "size": 5, "etag": "e1", "modified": "t1",
                 "current": False, "deleted": False}]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            assert request.url.params["versions"] == "true"
            return _ok({"versions": versions})
        assert json.loads(request.content) == {"path": "b/doc.txt", "version_id": "v1"}
        return _ok({"bucket": "b", "path": "doc.txt", "version_id": "v3"}, 201)
    client, seen = _client(handler)
    with client:
        found = client.versions("b/doc.txt")
        restored = client.restore("b/doc.txt", "v1")
    assert [(v.version_id, v.deleted, v.etag) for v in found] == [("v2", True, ""),
                                                                   ("v1", False, "e1")]
    assert restored.version_id == "v3"
    assert [(r.method, r.url.path) for r in seen] == [
        ("GET", "/api/v1/fs/b/doc.txt"), ("POST", "/api/v1/ops/restore")]


def test_delete_tree_starts_a_task_and_follows_it_to_the_end() -> None:
    polls = iter([{"task_id": "t1", "kind": "delete_tree", "state": "running", "done": 2,
                   "total": 5, "error": None},
                  {"task_id": "t1", "kind": "delete_tree", "state": "done", "done": 5,
                   "total": 5, "error": None}])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            assert request.url.params["recursive"] == "true"
            return _ok({"task_id": "t1", "total": 5}, 202)
        return _ok(next(polls))
    client, seen = _client(handler)
    with client:
        removal = client.delete_tree("b/dir", poll_s=0.0)
        started = client.delete_tree("b/dir", wait=False)
    assert (removal.path, removal.task.state, removal.task.done) == ("b/dir", "done", 5)
    assert (started.task.state, started.task.total) == ("running", 5)
    assert [(r.method, r.url.path) for r in seen] == [
        ("DELETE", "/api/v1/fs/b/dir/"), ("GET", "/api/v1/tasks/t1"),
        ("GET", "/api/v1/tasks/t1"), ("DELETE", "/api/v1/fs/b/dir/")]


async def test_the_async_client_waits_for_a_task_that_fails_and_says_so() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return _ok({"task_id": "t9", "total": 2}, 202)
        return _ok({"task_id": "t9", "kind": "delete_bucket", "state": "failed", "done": 1,
                    "total": 2, "error": "boom"})
    async with AsyncClient(CONFIG, policy=FAST,
                           transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(TaskFailed, match="boom"):
            await client.delete_bucket("b", recursive=True, poll_s=0.0)


def test_buckets_create_change_and_delete() -> None:
    entry = {"name": "nb", "permission": "owner", "used_bytes": 0, "files": 0, "home": False,
             "versioning": True, "keep_versions": None, "keep_days": 7}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return _ok({"name": "nb"})
        return _ok(entry, 201 if request.method == "POST" else 200)
    client, seen = _client(handler)
    with client:
        made = client.create_bucket("nb", versioning=True)
        changed = client.update_bucket("nb", keep_days=7, keep_versions=None)
        with pytest.raises(ValueError, match="quota_bytes"):
            client.update_bucket("nb", quota_bytes=1)
        removal = client.delete_bucket("nb")
    assert made.versioning and changed.keep_days == 7 and removal.task is None
    assert [(r.method, r.url.path) for r in seen] == [
        ("POST", "/api/v1/buckets"), ("PATCH", "/api/v1/buckets/nb"),
        ("DELETE", "/api/v1/buckets/nb")]
    assert json.loads(seen[0].content) == {"name": "nb", "versioning": True}
    assert json.loads(seen[1].content) == {"keep_days": 7, "keep_versions": None}


def test_a_small_file_goes_up_in_one_put_with_its_consistency() -> None:
    receipt = {"file_id": "f", "bucket": "b", "path": "a.txt", "size": 3, "sha256": "s",
               "chunks": 1, "dedup_chunks": 0, "mode": "C",
               "replicas": {"target": 3, "acked": 3, "pending": 0}}
    client, seen = _client(lambda r: _ok(receipt, 201))
    with client:
        got = client.put_file("b/a.txt", b"abc", "strong")
    assert (got.path, got.replicas_acked) == ("a.txt", 3)
    assert (seen[0].method, seen[0].url.path, seen[0].content) == (
        "PUT", "/api/v1/fs/b/a.txt", b"abc")
    assert seen[0].url.params["consistency"] == "strong"
