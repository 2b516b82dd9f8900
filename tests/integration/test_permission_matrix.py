"""Must-show 1 of issue 17: the permission matrix.

Every route of the master x every kind of caller (``CALLERS``: owner, rwd, rw, ro, none,
admin, key-ro, key-rw, revoked key, expired key) → the status it must answer, all from
ONE table (``TABLE``), on a real cluster. ``test_the_table_names_every_route_of_the_app``
compares the table with the app's router both ways, so a route added without a row (or
a row without a route) fails: nothing is reachable that the table does not describe.

Adding a route = adding one row: ``Row(method, route template, expected statuses, how
to build the request)``; request builders live in ``tests/support/matrix_requests.py``.
The expected statuses come from a helper that states the rule (``on_bucket(need, ok)``:
401 for a dead key, 404 below ro, 403 below ``need``; see the helpers below) and may be
overridden per caller with ``| {"caller": status}``. GET rows get their HEAD twin
automatically (``_with_head_twins``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

import aiohttp
import pytest

from common.config import MasterSettings
from master.app import build_app
from tests.integration.conftest import ADMIN
from tests.support.access_world import CALLERS, Cell, World, build_world
from tests.support.matrix_requests import (
    TUS,
    Build,
    Cleanup,
    abort_session,
    at,
    b_copy,
    b_delete_by_id,
    b_delete_file,
    b_delete_tree,
    b_doomed_bucket,
    b_group_quota,
    b_link_download,
    b_login,
    b_mkdir,
    b_move,
    b_new_bucket,
    b_new_group,
    b_new_key,
    b_new_link,
    b_new_webhook,
    b_owners_webhook,
    b_put_file,
    b_register,
    b_remove_member,
    b_restore,
    b_revoke_key,
    b_revoke_link,
    b_session,
    b_session_complete,
    b_session_init,
    b_session_part,
    b_share,
    b_tus,
    b_tus_create,
    b_tus_patch,
    b_unshare,
    b_user_quota,
    b_wave1_upload,
    delete_webhook,
    fs,
    terminate_tus,
)
from tools.cluster import LocalCluster

pytestmark = pytest.mark.timeout(600)

# -- expectations -------------------------------------------------------------------
# A caller's permission on the shared bucket (0: none); dead keys answer 401 anywhere.
RO, RW, RWD, OWN = 1, 2, 3, 4
LEVEL = {"owner": OWN, "rwd": RWD, "rw": RW, "ro": RO, "none": 0, "admin": OWN,
         "key-ro": RO, "key-rw": OWN}
DEAD = ("revoked", "expired")
Expect = dict[str, int]


def _each(rule: Callable[[str], int]) -> Expect:
    return {c: 401 if c in DEAD else rule(c) for c in CALLERS}


def public(status: int) -> Expect:
    """No token needed: the Authorization header is not even looked at."""
    return {c: status for c in CALLERS}


def signed_in(ok: int, *, changes: bool = False) -> Expect:
    """Any valid credential; a read-only key may not ``changes`` anything."""
    return _each(lambda c: 403 if changes and c == "key-ro" else ok)


def on_bucket(need: int, ok: int) -> Expect:
    """On the shared bucket: 404 unreadable, 403 weaker than ``need``."""
    return _each(lambda c: 404 if LEVEL[c] == 0 else 403 if LEVEL[c] < need else ok)


def admin_only(ok: int) -> Expect:
    return _each(lambda c: ok if c == "admin" else 403)


def own_session(need: int, ok: int) -> Expect:
    """An upload session of the owner: other users (admins too) do not see it; the
    owner's keys use it within their scope."""
    return _each(lambda c: ok if c in ("owner", "key-rw") or (c == "key-ro" and need == RO)
                 else 403 if c == "key-ro" else 404)


def group_manager(ok: int) -> Expect:
    """A group the owner created: its creator and admins manage it."""
    return _each(lambda c: ok if c in ("owner", "admin", "key-rw") else 403)


def owners_thing(ok: int) -> Expect:
    """Something the owner made (a link, a webhook): its maker's user (by login or any
    of its live keys) and admins act on it; to anyone else it does not exist."""
    return _each(lambda c: ok if c in ("owner", "admin", "key-ro", "key-rw") else 404)


def login_only(ok: int) -> Expect:
    """Key management: with a login token, never with an API key."""
    return _each(lambda c: 403 if c in ("key-ro", "key-rw") else ok)


def ui_page(expect: Expect) -> Expect:
    """A web UI page (master/ui): the API's rule, but a dead credential is sent to the
    login page (303) instead of a JSON 401."""
    return {c: 303 if c in DEAD else status for c, status in expect.items()}


# A UI state change without the page's CSRF token is refused before anything else
# (master/ui/middleware.py): no bearer token, valid or not, stands in for it.
CSRF_REFUSED = public(403)
_NO_REDIRECT = {"allow_redirects": False}


@dataclass(frozen=True)
class Row:
    method: str
    route: str
    expect: Expect
    build: Build
    cleanup: Cleanup | None = None
    variant: str = ""

    @property
    def name(self) -> str:
        return f"{self.method} {self.route}{' ' + self.variant if self.variant else ''}"


_MEMBER = lambda w: f"/api/v1/groups/{w.managed_group}/members/{w.bystander}"  # noqa: E731

# -- THE table ----------------------------------------------------------------------
TABLE: list[Row] = [
    Row("POST", "/api/v1/auth/register", public(201), b_register),
    Row("POST", "/api/v1/auth/login", public(200), b_login),
    Row("GET", "/api/v1/auth/profile", signed_in(200), at("/api/v1/auth/profile")),
    Row("GET", "/api/v1/health", public(200), at("/api/v1/health")),
    Row("GET", "/api/v1/openapi.json", public(200), at("/api/v1/openapi.json")),
    Row("GET", "/metrics", public(200), at("/metrics")),
    Row("POST", "/api/v1/workers/register", public(401),
        at("/api/v1/workers/register", json={})),
    Row("POST", "/api/v1/workers/{worker_id}/heartbeat", public(401),
        at("/api/v1/workers/worker-1/heartbeat", json={})),
    Row("GET", "/api/v1/workers/health", signed_in(200), at("/api/v1/workers/health")),
    Row("GET", "/api/v1/admin/cluster", admin_only(200), at("/api/v1/admin/cluster")),
    Row("POST", "/api/v1/admin/workers/{worker_id}/drain", admin_only(404),
        at("/api/v1/admin/workers/no-such-worker/drain")),
    Row("GET", "/api/v1/admin/workers/{worker_id}/drain", admin_only(404),
        at("/api/v1/admin/workers/no-such-worker/drain")),
    Row("GET", "/api/v1/admin/audit", admin_only(200), at("/api/v1/admin/audit")),
    # buckets and shares
    Row("GET", "/api/v1/buckets", signed_in(200), at("/api/v1/buckets")),
    Row("POST", "/api/v1/buckets", signed_in(201, changes=True), b_new_bucket),
    Row("GET", "/api/v1/buckets/{bucket}", on_bucket(RO, 200),
        at(lambda w: f"/api/v1/buckets/{w.bucket}")),
    Row("PATCH", "/api/v1/buckets/{bucket}", on_bucket(OWN, 200),
        at(lambda w: f"/api/v1/buckets/{w.bucket}", json={"keep_days": 365})),
    Row("DELETE", "/api/v1/buckets/{bucket}", on_bucket(OWN, 200), b_doomed_bucket),
    Row("GET", "/api/v1/buckets/{bucket}/shares", on_bucket(OWN, 200),
        at(lambda w: f"/api/v1/buckets/{w.bucket}/shares")),
    Row("PUT", "/api/v1/buckets/{bucket}/shares", on_bucket(OWN, 200), b_share),
    Row("DELETE", "/api/v1/buckets/{bucket}/shares/{grantee}", on_bucket(OWN, 200), b_unshare),
    # paths in buckets
    Row("PUT", "/api/v1/fs/{bucket}/{path}", on_bucket(RW, 201), b_put_file),
    Row("GET", "/api/v1/fs/{bucket}/{path}", on_bucket(RO, 200), at(fs("mx/read.txt"))),
    Row("GET", "/api/v1/fs/{bucket}/{path}", on_bucket(RO, 200), at(fs("mx/")),
        variant="(listing)"),
    Row("GET", "/api/v1/fs/{bucket}/{path}", on_bucket(RO, 200),
        at(fs("mx/read.txt"), params={"versions": "true"}), variant="(versions)"),
    Row("POST", "/api/v1/fs/{bucket}/{path}", on_bucket(RW, 201), b_mkdir),
    Row("DELETE", "/api/v1/fs/{bucket}/{path}", on_bucket(RWD, 200), b_delete_file),
    Row("DELETE", "/api/v1/fs/{bucket}/{path}", on_bucket(RWD, 202), b_delete_tree,
        variant="(recursive)"),
    Row("POST", "/api/v1/ops/move", on_bucket(RWD, 200), b_move),
    Row("POST", "/api/v1/ops/copy", on_bucket(RW, 201), b_copy),
    Row("POST", "/api/v1/ops/restore", on_bucket(RW, 201), b_restore),
    Row("GET", "/api/v1/tasks/{task_id}",
        _each(lambda c: 200 if c in ("owner", "admin", "key-ro", "key-rw") else 404),
        at(lambda w: f"/api/v1/tasks/{w.task_id}")),
    # files by id and wave-1 routes (the caller's home bucket)
    Row("GET", "/api/v1/files", signed_in(200), at("/api/v1/files")),
    Row("POST", "/api/v1/files/upload", signed_in(201, changes=True), b_wave1_upload),
    Row("GET", "/api/v1/files/{file_id}", on_bucket(RO, 200),
        at(lambda w: f"/api/v1/files/{w.file_id}")),
    Row("GET", "/api/v1/files/{file_id}/download", on_bucket(RO, 200),
        at(lambda w: f"/api/v1/files/{w.file_id}/download")),
    Row("DELETE", "/api/v1/files/{file_id}", on_bucket(RWD, 200), b_delete_by_id),
    # upload sessions (chunks and tus)
    Row("POST", "/api/v1/files/upload/init", on_bucket(RW, 201), b_session_init),
    Row("GET", "/api/v1/files/upload/{session_id}", own_session(RO, 200), b_session,
        abort_session),
    Row("DELETE", "/api/v1/files/upload/{session_id}", own_session(RW, 200), b_session,
        abort_session),
    Row("PUT", "/api/v1/files/upload/{session_id}/chunks/{index}", own_session(RW, 200),
        b_session_part, abort_session),
    Row("POST", "/api/v1/files/upload/{session_id}/complete", own_session(RW, 201),
        b_session_complete, abort_session),
    Row("POST", "/api/v1/chunks/has", signed_in(200), at("/api/v1/chunks/has",
                                                          json={"chunk_ids": []})),
    Row("OPTIONS", "/api/v1/tus/", signed_in(204), at("/api/v1/tus/", headers=TUS)),
    Row("POST", "/api/v1/tus/", signed_in(201, changes=True), b_tus_create),
    Row("HEAD", "/api/v1/tus/{upload_id}", own_session(RO, 200), b_tus, terminate_tus),
    Row("PATCH", "/api/v1/tus/{upload_id}", own_session(RW, 204), b_tus_patch, terminate_tus),
    Row("DELETE", "/api/v1/tus/{upload_id}", own_session(RW, 204), b_tus, terminate_tus),
    # groups
    Row("GET", "/api/v1/groups", signed_in(200), at("/api/v1/groups")),
    Row("POST", "/api/v1/groups", signed_in(201, changes=True), b_new_group),
    Row("PUT", "/api/v1/groups/{group}/members/{username}", group_manager(200), at(_MEMBER)),
    Row("DELETE", "/api/v1/groups/{group}/members/{username}", group_manager(200),
        b_remove_member),
    # API keys
    Row("GET", "/api/v1/keys", signed_in(200), at("/api/v1/keys")),
    Row("POST", "/api/v1/keys", login_only(201), b_new_key),
    Row("DELETE", "/api/v1/keys/{key_id}",
        _each(lambda c: 200 if c in ("owner", "admin") else 403 if c.startswith("key-")
              else 404), b_revoke_key),
    # quotas (a user's and a group's quota are set by admins)
    Row("PATCH", "/api/v1/admin/users/{username}", admin_only(200), b_user_quota),
    Row("PATCH", "/api/v1/admin/groups/{group}", admin_only(200), b_group_quota),
    # download links: made on a readable bucket, revoked by their creator's side
    Row("POST", "/api/v1/links", on_bucket(RO, 201), b_new_link),
    Row("GET", "/api/v1/links", signed_in(200), at("/api/v1/links")),
    Row("DELETE", "/api/v1/links/{link_id}", owners_thing(200), b_revoke_link),
    Row("GET", "/d/{token}", public(200), b_link_download),
    # the web UI (issue 22): pages answer HTML; every POST needs the page's CSRF token
    Row("GET", "/ui", public(303), at("/ui", **_NO_REDIRECT)),
    Row("GET", "/ui/", public(303), at("/ui/", **_NO_REDIRECT)),
    Row("GET", "/ui/login", public(200), at("/ui/login")),
    Row("POST", "/ui/login", CSRF_REFUSED, at("/ui/login", data={"username": "x"})),
    Row("GET", "/ui/register", public(200), at("/ui/register")),
    Row("POST", "/ui/register", CSRF_REFUSED, at("/ui/register", data={"username": "x"})),
    Row("POST", "/ui/logout", CSRF_REFUSED, at("/ui/logout", data={})),
    Row("GET", "/ui/static", public(200), at("/ui/static/style.css")),
    Row("GET", "/ui/buckets", ui_page(signed_in(200)), at("/ui/buckets", **_NO_REDIRECT)),
    Row("POST", "/ui/buckets", CSRF_REFUSED, at("/ui/buckets", data={"name": "nope"})),
    Row("GET", "/ui/b/{bucket}/{path}", ui_page(on_bucket(RO, 200)),
        at(lambda w: f"/ui/b/{w.bucket}/mx/", **_NO_REDIRECT)),
    Row("GET", "/ui/f/{bucket}/{path}", ui_page(on_bucket(RO, 200)),
        at(lambda w: f"/ui/f/{w.bucket}/mx/read.txt", **_NO_REDIRECT)),
    Row("GET", "/ui/links", ui_page(signed_in(200)), at("/ui/links", **_NO_REDIRECT)),
    Row("GET", "/ui/tasks/{task_id}", ui_page(signed_in(404)),
        at(f"/ui/tasks/{uuid.UUID(int=1)}", **_NO_REDIRECT)),
    *(Row("POST", route, CSRF_REFUSED, at(route, data={}))
      for route in ("/ui/mkdir", "/ui/ops/move", "/ui/ops/copy", "/ui/ops/delete",
                    "/ui/ops/restore", "/ui/links", "/ui/links/revoke", "/ui/shares",
                    "/ui/shares/delete",
                    "/ui/admin/consistency/override")),
    Row("POST", "/ui/admin/workers/{worker_id}/drain", CSRF_REFUSED,
        at("/ui/admin/workers/worker-1/drain", data={"confirm": "yes"})),
    *(Row("GET", route, ui_page(admin_only(200)), at(path, **_NO_REDIRECT))
      for route, path in (("/ui/admin/workers", "/ui/admin/workers"),
                          ("/ui/admin/workers/live", "/ui/admin/workers/live?once=1"),
                          ("/ui/admin/consistency", "/ui/admin/consistency"),
                          ("/ui/admin/consistency/live",
                           "/ui/admin/consistency/live?once=1"))),
    # the change feed and webhooks (issue 18)
    Row("GET", "/api/v1/events", on_bucket(RO, 200),
        at(lambda w: f"/api/v1/events?bucket={w.bucket}&wait_s=0")),
    Row("POST", "/api/v1/webhooks", on_bucket(RO, 201), b_new_webhook, delete_webhook),
    Row("GET", "/api/v1/webhooks", signed_in(200), at("/api/v1/webhooks")),
    Row("GET", "/api/v1/webhooks/{webhook_id}", owners_thing(200), b_owners_webhook,
        delete_webhook),
    Row("DELETE", "/api/v1/webhooks/{webhook_id}", owners_thing(200), b_owners_webhook,
        delete_webhook),
]


def _with_head_twins(rows: list[Row]) -> list[Row]:
    """Each GET route answers HEAD as aiohttp adds it: the same statuses, no body."""
    twins, seen = [], set()
    for row in rows:
        if row.method == "GET" and row.route not in seen:
            seen.add(row.route)
            twins.append(replace(row, method="HEAD"))
    return rows + twins


ROWS = _with_head_twins(TABLE)


def _router_routes() -> set[tuple[str, str]]:
    app = build_app(MasterSettings(jwt_secret="j" * 40, cluster_secret="c" * 40))
    return {(r.method, r.resource.canonical) for r in app.router.routes()
            if r.resource is not None}


def test_the_table_names_every_route_of_the_app() -> None:
    """Nothing is reachable that the matrix does not describe, and every row is real."""
    in_table = {(row.method, row.route) for row in ROWS}
    routes = _router_routes()
    assert routes - in_table == set(), "routes without a row in TABLE"
    assert in_table - routes == set(), "rows naming no route"
    assert all(set(row.expect) == set(CALLERS) for row in ROWS)


@pytest.fixture(scope="module")
async def world(cluster: LocalCluster) -> AsyncIterator[World]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        built = await build_world(cluster.master_url, http, ADMIN)
        yield built


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.name)
async def test_every_caller_gets_the_tables_answer(world: World, row: Row) -> None:
    got: Expect = {}
    for caller in CALLERS:
        cell = Cell(world, caller, uuid.uuid4().hex[:8])
        path, kwargs = await row.build(cell)
        got[caller] = await world.send(caller, row.method, path, **kwargs)
        if row.cleanup is not None:
            await row.cleanup(world, path)
    assert got == row.expect
