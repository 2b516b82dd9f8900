"""The consistency controller's HTTP API as the master's admin views read it (§7).

Reads ``GET /status`` (open to cluster members) and writes ``POST /v1/override`` with
the cluster credential signed for that method and path. Domain errors only: a
controller that cannot be reached is Unavailable, a refusal keeps its message.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from common.cluster_auth import ClusterIdentity
from common.errors import InvalidInput, Unavailable

__all__ = ["ControllerClient"]

_TIMEOUT = aiohttp.ClientTimeout(total=3.0)


class ControllerClient:
    def __init__(self, base_url: str, session: aiohttp.ClientSession,
                 identity: ClusterIdentity) -> None:
        self._base = base_url.rstrip("/")
        self._session = session
        self._identity = identity

    async def status(self) -> dict[str, Any]:
        return await self._call("GET", "/status")

    async def set_override(self, mode: str | None) -> dict[str, Any]:
        return await self._call("POST", "/v1/override", {"mode": mode})

    async def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        headers = self._identity.http_headers(method, path)
        try:
            async with self._session.request(method, self._base + path, json=body,
                                             headers=headers, timeout=_TIMEOUT) as response:
                answer = await response.json(content_type=None)
                status = response.status
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise Unavailable(f"the consistency controller is unreachable: {exc!r}") from exc
        if not isinstance(answer, dict):
            raise Unavailable("the consistency controller answered something odd")
        if status == 400:
            raise InvalidInput(str(answer.get("message", "refused by the controller")))
        if status != 200:
            raise Unavailable(f"the consistency controller answered {status}: "
                              f"{answer.get('message', '')}")
        data = answer.get("data")
        return data if isinstance(data, dict) else {}
