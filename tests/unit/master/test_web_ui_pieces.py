"""The web UI's pure pieces: CSRF tokens, cookie attributes, the login redirect guard,
the SSE framing and the template filters (master/ui, master/services/web_sessions)."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from common.errors import Forbidden
from master.services.auth import Principal
from master.services.consistency import ConsistencyService
from master.services.web_sessions import CookiePolicy, CsrfRefused, WebSessions
from master.ui.formatting import human_bytes, percent, url_path
from master.ui.live import _event
from master.ui.middleware import _back_link
from master.ui.routes_auth import _next_page

SECRET = "s" * 40


def _sessions(secure: bool = False) -> WebSessions:
    return WebSessions(SECRET, CookiePolicy(secure=secure, session_ttl_s=3600))


def test_a_csrf_token_is_accepted_only_for_the_browser_it_was_made_for() -> None:
    sessions = _sessions()
    mine, theirs = sessions.new_nonce(), sessions.new_nonce()
    token = sessions.csrf_token(mine)
    sessions.check_csrf(mine, token)
    for nonce, presented in ((theirs, token), (mine, None), (None, token), (mine, ""),
                             (mine, token[:-1] + ("0" if token[-1] != "0" else "1")),
                             (mine, "x" * 500)):
        with pytest.raises(CsrfRefused) as refused:
            sessions.check_csrf(nonce, presented)
        assert refused.value.code == "csrf_failed" and isinstance(refused.value, Forbidden)


def test_tokens_depend_on_the_jwt_secret() -> None:
    nonce = "n" * 43
    other = WebSessions("t" * 40, CookiePolicy(secure=False, session_ttl_s=60))
    assert _sessions().csrf_token(nonce) != other.csrf_token(nonce)


def test_cookies_are_http_only_same_site_strict_and_secure_under_tls() -> None:
    plain = _sessions().policy.attributes(60)
    assert plain == {"httponly": True, "samesite": "Strict", "path": "/", "secure": False,
                     "max_age": 60}
    assert _sessions(secure=True).policy.attributes(None)["secure"] is True


@pytest.mark.parametrize("raw, expected", [
    ("/ui/b/x/", "/ui/b/x/"), ("", "/ui/buckets"), ("//evil.example/ui/", "/ui/buckets"),
    ("https://evil.example/ui/", "/ui/buckets"), ("/api/v1/buckets", "/ui/buckets"),
    ("/ui/\\evil", "/ui/buckets"),
])
def test_login_only_redirects_to_a_page_of_the_ui(raw: str, expected: str) -> None:
    assert _next_page(raw) == expected


def test_a_fragment_is_one_sse_event_whatever_its_lines() -> None:
    assert _event("<p>a</p>\n<p>b</p>") == b"event: fragment\ndata: <p>a</p>\ndata: <p>b</p>\n\n"
    assert _event("") == b"event: fragment\ndata: \n\n"


def test_filters() -> None:
    assert human_bytes(None) == "—" and human_bytes(300) == "300 B"
    assert human_bytes(50 * 1024 * 1024) == "50.0 MiB"
    assert percent(5, 10) == 50 and percent(5, 0) == 0 and percent(50, 10) == 100
    assert url_path("a b/<c>?") == "a%20b/%3Cc%3E%3F"


class _NoController:
    async def status(self) -> dict[str, object]:
        raise AssertionError("a non-admin must be refused before the controller is asked")


async def test_only_admins_see_or_change_the_controller() -> None:
    service = ConsistencyService(_NoController(), audit=None)  # type: ignore[arg-type]
    user = Principal(1, "u", is_admin=False)
    with pytest.raises(Forbidden):
        await service.view(user)
    with pytest.raises(Forbidden):
        await service.set_override(user, "A")


@pytest.mark.parametrize(("referer", "expected"), [
    ("http://echo.test:8080/ui/admin/workers", "/ui/admin/workers"),
    ("http://echo.test:8080/ui/b/docs/?cursor=x", "/ui/b/docs/?cursor=x"),
    ("", "/ui/buckets"),
    ("http://evil.example/ui/admin/workers", "/ui/buckets"),  # another site
    ("http://echo.test:8080/api/v1/buckets", "/ui/buckets"),  # not a page
    ("http://echo.test:8080/ui/admin/workers/w3/drain", "/ui/buckets"),  # the failed address
    ("javascript:alert(1)", "/ui/buckets"),
])
def test_an_error_page_links_back_only_to_a_page_of_ours(referer: str, expected: str) -> None:
    headers = {"Host": "echo.test:8080", **({"Referer": referer} if referer else {})}
    request = make_mocked_request("POST", "/ui/admin/workers/w3/drain", headers=headers)
    assert _back_link(request) == expected
