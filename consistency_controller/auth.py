"""Who may change the controller's decisions (DESIGN.md §15).

Reads (``GET /v1/mode``, ``/v1/critical-keys``, ``/status``, ``/health``, ``/metrics``)
stay open to masters and monitoring. Every write (``POST /v1/override``, ``/v1/hint``,
``/v1/register``, ``/v1/critical-keys``) needs either the cluster credential
(``X-EchoFS-Cluster-Auth``, signed for that method and path: ``common.cluster_auth``)
or ``Authorization: Bearer <JWT>`` of a user who is an admin *now*: the token is
checked with the masters' ``JWT_SECRET`` and the role read from the view the master's
migrations publish (``controller_admin_users``), never from the token. Anything else
is 401 before the body is read; a failure to look the role up is a refusal too.
"""

from __future__ import annotations

import logging

import jwt
from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from common.cluster_auth import ClusterIdentity
from common.errors import Forbidden, Unauthenticated

__all__ = ["WriteGuard"]

log = logging.getLogger(__name__)


class WriteGuard:
    def __init__(
        self, identity: ClusterIdentity, jwt_secret: str, pool: AsyncConnectionPool
    ) -> None:
        self._identity = identity
        self._jwt_secret = jwt_secret
        self._pool = pool

    async def check(self, request: web.Request) -> None:
        """Raise Unauthenticated / Forbidden unless the caller may write."""
        if self._identity.verify_http(request.headers, request.method, request.path):
            return
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated(
                "controller writes need the cluster credential or an admin's bearer token"
            )
        if not self._jwt_secret:
            raise Unauthenticated("this controller has no JWT_SECRET; it accepts no tokens")
        try:
            claims = jwt.decode(token.strip(), self._jwt_secret, algorithms=["HS256"],
                                options={"require": ["exp", "sub", "iat"]})
            user_id = int(claims["sub"])
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise Unauthenticated(f"invalid token: {exc}") from exc
        if not await self._is_admin(user_id):
            raise Forbidden("only admins may change the controller's decisions")

    async def _is_admin(self, user_id: int) -> bool:
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT 1 FROM controller_admin_users WHERE user_id = %s", (user_id,)
                )
                return await cur.fetchone() is not None
        except Exception as exc:  # fail closed: no role lookup, no write
            log.warning("admin lookup failed; refusing the write: %r", exc)
            return False
