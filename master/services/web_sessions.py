"""Browser sessions for the web UI (DESIGN §18): the API's own JWT in a cookie, and CSRF.

The session cookie carries exactly the JWT ``AuthService.login`` issues for the REST API,
so a browser is authenticated by the same code path, with the same expiry and the same
role lookup, as any API client: nothing here decides who may do what.

CSRF: every browser gets a random nonce in its own cookie (HttpOnly, SameSite=Strict);
the token a page embeds (form field ``csrf_token`` / header ``X-CSRF-Token``) is an HMAC
of that nonce under the JWT secret. A cross-site page can neither read the nonce nor
compute its HMAC, and SameSite=Strict keeps both cookies off cross-site requests anyway.
The nonce is replaced at login and logout so a planted nonce cannot outlive a session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from common.errors import Forbidden

__all__ = ["CSRF_COOKIE", "SESSION_COOKIE", "CookiePolicy", "CsrfRefused", "WebSessions"]

SESSION_COOKIE = "echofs_session"
CSRF_COOKIE = "echofs_csrf"


class CsrfRefused(Forbidden):
    """A state-changing browser request without the page's CSRF token."""

    code = "csrf_failed"


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    """How the UI's cookies are set: Secure when the master serves HTTPS."""

    secure: bool
    session_ttl_s: int

    def attributes(self, max_age_s: int | None) -> dict[str, object]:
        attrs: dict[str, object] = {"httponly": True, "samesite": "Strict", "path": "/",
                                    "secure": self.secure}
        if max_age_s is not None:
            attrs["max_age"] = max_age_s
        return attrs


class WebSessions:
    def __init__(self, jwt_secret: str, policy: CookiePolicy) -> None:
        self._key = hashlib.sha256(b"echofs-ui-csrf\0" + jwt_secret.encode()).digest()
        self.policy = policy

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_urlsafe(32)

    def csrf_token(self, nonce: str) -> str:
        """The token pages embed for the browser holding ``nonce``."""
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, nonce: str | None, presented: str | None) -> None:
        """CsrfRefused unless ``presented`` is the token of this browser's ``nonce``."""
        if not nonce or not presented or len(presented) > 128:
            raise CsrfRefused("this request needs the page's CSRF token; reload the page")
        if not hmac.compare_digest(self.csrf_token(nonce), presented):
            raise CsrfRefused("CSRF token does not match this browser; reload the page")
