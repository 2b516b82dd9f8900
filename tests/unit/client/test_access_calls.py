"""The access and change-feed calls of the SDK (DESIGN §12, §13) over an in-memory master
(httpx's mock transport): which route, method and body each sends, which may be retried,
the typed results, and how ``watch`` follows the feed's cursor."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from client import AsyncClient, Client, ClientConfig, ConnectionFailed
from client.models_access import Event
from client.retry import RetryPolicy
from common.errors import Forbidden, InvalidInput, NotFound

FAST = RetryPolicy(attempts=3, base_delay_s=0.0, jitter=lambda: 0.0)
CONFIG = ClientConfig(("http://m1:8080",), "tok", None, None)


def _ok(data: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(
        {"success": True, "message": "ok", "data": data}).encode())


def _error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(
        {"success": False, "code": code, "message": message}).encode())


@dataclass
class AccessMaster:
    """Shares, keys, links and an event feed in memory, answering as the master's
    routes do (``master/api/routes_access.py``, ``routes_keys.py``, ``routes_links.py``,
    ``routes_events.py``)."""

    shares: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    seen: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        route = (request.method, request.url.raw_path.decode().split("?")[0])
        body = json.loads(request.content) if request.content else {}
        if route == ("PUT", "/api/v1/buckets/b/shares"):
            kind = "user" if "user" in body else "group"
            share = {kind: body[kind], "permission": body["permission"], "granted_by": "me",
                     "created_at": "t0", "updated_at": "t1"}
            self.shares[f"{kind}:{body[kind]}"] = share
            return _ok({"bucket": "b", **share})
        if route == ("GET", "/api/v1/buckets/b/shares"):
            return _ok({"bucket": "b", "shares": list(self.shares.values())})
        if request.method == "DELETE" and route[1].startswith("/api/v1/buckets/b/shares/"):
            grantee = httpx.URL(route[1]).path.rsplit("/", 1)[-1]
            if self.shares.pop(grantee, None) is None:
                return _error(404, "not_found", f"no share {grantee}")
            return _ok({"bucket": "b"})
        if route == ("POST", "/api/v1/keys"):
            key_id = f"EK{len(self.keys):018d}"
            self.keys[key_id] = {"key_id": key_id, "name": body["name"],
                                 "permission": body["permission"],
                                 "buckets": body.get("buckets"), "created_at": "t0",
                                 "expires_at": None, "revoked_at": None, "state": "active"}
            return _ok({**self.keys[key_id], "secret": "s" * 40, "token": "efk_" + "t" * 43},
                       201)
        if route == ("GET", "/api/v1/keys"):
            return _ok({"keys": list(self.keys.values())})
        if route == ("POST", "/api/v1/links"):
            return _ok({"link_id": "L1", "url": "/d/tok", "expires_at": "t9",
                        "max_uses": body.get("max_uses"), "path": body["path"],
                        "version_id": "v1"}, 201)
        if route == ("GET", "/api/v1/events"):
            after = int(request.url.params.get("after", len(self.events)))
            page = [e for e in self.events if e["id"] > after][:2]
            last = page[-1]["id"] if page else max(after, len(self.events))
            return _ok({"events": page, "last_id": last})
        if route == ("PATCH", "/api/v1/admin/users/alice"):
            return _ok({"username": "alice", "user_id": 7, "used_bytes": 5, "files": 1,
                        "quota_bytes": body.get("quota_bytes"),
                        "quota_files": body.get("quota_files")})
        return _error(403, "forbidden", f"{route} is not for you")


def _client(master: AccessMaster) -> Client:
    return Client(CONFIG, policy=FAST, transport=httpx.MockTransport(master.handle))


def _event(event_id: int, path: str, **extra: Any) -> dict[str, Any]:
    return {"id": event_id, "type": "file.created", "bucket": "b", "path": path,
            "actor": "me", "at": f"t{event_id}", **extra}


def test_share_list_and_unshare_a_user_and_a_group() -> None:
    master = AccessMaster()
    with _client(master) as client:
        made = client.share("b", "user", "alice", "rw")
        client.share("b", "group", "devs", "ro")
        listed = client.shares("b")
        removed = client.unshare("b", "group", "devs")
    assert (made.bucket, made.grantee_kind, made.grantee, made.permission) == (
        "b", "user", "alice", "rw")
    assert [(s.grantee_kind, s.grantee) for s in listed] == [("user", "alice"),
                                                            ("group", "devs")]
    assert removed.to_json() == {"bucket": "b", "grantee_kind": "group", "grantee": "devs"}
    assert json.loads(master.seen[0].content) == {"user": "alice", "permission": "rw"}
    assert master.seen[-1].url.raw_path == b"/api/v1/buckets/b/shares/group%3Adevs"
    assert list(master.shares) == ["user:alice"]


def test_a_bad_permission_or_grantee_is_refused_before_sending() -> None:
    master = AccessMaster()
    with _client(master) as client:
        with pytest.raises(InvalidInput, match="ro, rw, rwd"):
            client.share("b", "user", "alice", "owner")
        with pytest.raises(InvalidInput, match="user or a group"):
            client.unshare("b", "team", "x")
        with pytest.raises(InvalidInput, match="ro, rw, admin"):
            client.create_key("k", "rwd")
    assert master.seen == []


def test_a_new_key_shows_its_secret_once_and_never_in_its_repr() -> None:
    master = AccessMaster()
    with _client(master) as client:
        made = client.create_key("ci", "ro", ["b"], 3600)
        listed = client.keys()
    assert json.loads(master.seen[0].content) == {"name": "ci", "permission": "ro",
                                                  "buckets": ["b"], "expires_in_s": 3600}
    assert made.token.startswith("efk_") and made.key.buckets == ("b",)
    assert "efk_" not in repr(made) and "s" * 40 not in repr(made)
    assert listed == (made.key,)
    assert set(made.to_json()) == {"key", "secret", "token"}


def test_creating_a_key_is_not_sent_again_after_a_lost_answer_but_listing_is() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ReadError("reset", request=request)
    with Client(CONFIG, policy=FAST, transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ConnectionFailed):
            client.create_key("ci", "rw")
        assert calls == ["POST"]
        with pytest.raises(ConnectionFailed):
            client.keys()
    assert calls == ["POST", "GET", "GET", "GET"]


def test_a_link_is_addressed_on_the_master_that_made_it_and_hidden_in_its_repr() -> None:
    master = AccessMaster()
    with _client(master) as client:
        made = client.create_link("b//docs/f.txt", 600, max_uses=1)
    assert json.loads(master.seen[0].content) == {"path": "b/docs/f.txt",
                                                  "expires_in_s": 600, "max_uses": 1}
    assert (made.url, made.download_url, made.max_uses) == (
        "/d/tok", "http://m1:8080/d/tok", 1)
    assert "/d/tok" not in repr(made)


def test_a_quota_sends_only_what_is_given_and_none_means_no_limit() -> None:
    master = AccessMaster()
    with _client(master) as client:
        usage = client.set_user_quota("alice", quota_files=None)
        with pytest.raises(InvalidInput):
            client.set_user_quota("alice")
        with pytest.raises(Forbidden):
            client.set_user_quota("bob", quota_bytes=1)
    assert json.loads(master.seen[0].content) == {"quota_files": None}
    assert usage.to_json() == {"scope": "user", "name": "alice", "used_bytes": 5,
                               "files": 1, "quota_bytes": None, "quota_files": None}
    assert len(master.seen) == 2


def test_watch_follows_the_cursor_across_pages_and_empty_polls() -> None:
    master = AccessMaster(events=[_event(1, "old"), _event(2, "a", size=3),
                                  _event(3, "b", from_path="x", from_bucket="c"),
                                  _event(4, "c")])
    with _client(master) as client:
        followed = client.watch("b", "in/", after=1, types=("file.created",), wait_s=5)
        got = [next(followed) for _ in range(3)]
        followed.close()
    assert [e.id for e in got] == [2, 3, 4]
    assert got[0].size == 3 and got[0].from_path is None
    assert (got[1].from_bucket, got[1].from_path) == ("c", "x")
    assert got[2] == Event(4, "file.created", "b", "c", "me", "t4")
    params = [dict(r.url.params) for r in master.seen]
    assert [p["after"] for p in params] == ["1", "3"]
    assert params[0] == {"after": "1", "bucket": "b", "prefix": "in/",
                         "types": "file.created", "wait_s": "5", "limit": "100"}


def test_events_refuse_a_wait_longer_than_a_poll_may_take() -> None:
    master = AccessMaster()
    with _client(master) as client, pytest.raises(InvalidInput):
        client.events("b", wait_s=3600)
    assert master.seen == []


async def test_the_async_client_watches_and_answers_errors_as_their_classes() -> None:
    master = AccessMaster(events=[_event(1, "a"), _event(2, "b"), _event(3, "c")])
    transport = httpx.MockTransport(master.handle)
    async with AsyncClient(CONFIG, policy=FAST, transport=transport) as client:
        got: list[Event] = []
        async for event in client.watch(after=0, wait_s=0):
            got.append(event)
            if len(got) == 3:
                break
        with pytest.raises(NotFound):
            await client.unshare("b", "user", "nobody")
        page = await client.events()
    assert [e.path for e in got] == ["a", "b", "c"]
    assert page.events == () and page.last_id == 3
    assert "after" not in master.seen[-1].url.params  # None: from now on


def _handler_of(routes: dict[str, Callable[[httpx.Request], httpx.Response]]
                ) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: routes[request.url.path](request)


def test_groups_follow_next_after_and_members_say_what_changed() -> None:
    pages = {"": {"groups": [{"name": "a", "members": ["x"], "created_at": "t",
                              "created_by": "me"}], "next_after": "a"},
             "a": {"groups": [{"name": "b", "members": [], "created_at": "t",
                               "created_by": None}], "next_after": None}}
    routes = {
        "/api/v1/groups": lambda r: _ok(pages[r.url.params.get("after", "")]),
        "/api/v1/groups/a/members/y": lambda r: _ok({"added": False}),
    }
    with Client(CONFIG, policy=FAST,
                transport=httpx.MockTransport(_handler_of(routes))) as client:
        groups = client.groups()
        again = client.add_member("a", "y")
    assert [(g.name, g.members, g.created_by) for g in groups] == [("a", ("x",), "me"),
                                                                   ("b", (), None)]
    assert (again.member, again.changed) == (True, False)
