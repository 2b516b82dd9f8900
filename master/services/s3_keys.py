"""The S3 gateway's access keys: DESIGN §12's API keys, by key id.

An API key's ``key_id`` and ``secret`` are the S3 access key pair; the principal it
resolves to carries the key's scope and bucket list, which ``BucketAccess`` applies
to every operation. Unknown, revoked and expired keys resolve to nothing (the gateway
answers InvalidAccessKeyId); nothing is cached, so a revocation is in force at once.
"""

from __future__ import annotations

from common.errors import Unauthenticated
from master.services.api_keys import ApiKeyService, KeySecret

__all__ = ["GatewayKeys"]


class GatewayKeys:
    def __init__(self, keys: ApiKeyService) -> None:
        self._keys = keys

    async def resolve(self, key_id: str) -> KeySecret | None:
        try:
            return await self._keys.secret_for(key_id)
        except Unauthenticated:
            return None
