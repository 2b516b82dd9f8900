"""The S3 gateway's access keys (``master.s3.sigv4.AccessKeys``), by key id.

PROVISIONAL until the API keys of DESIGN §12 (issue 17) land: keys come from
``ProvisionalKeysRepository``, a table only tests create. The real implementation
resolves a key id to its secret and to a principal carrying the key's scope.
"""

from __future__ import annotations

from dataclasses import dataclass

from master.metadata.provisional_keys import ProvisionalKeysRepository
from master.services.auth import Principal

__all__ = ["ProvisionalAccessKeys", "ResolvedAccessKey"]


@dataclass(frozen=True, slots=True)
class ResolvedAccessKey:
    secret: str
    principal: Principal


class ProvisionalAccessKeys:
    def __init__(self, repository: ProvisionalKeysRepository) -> None:
        self._repository = repository

    async def resolve(self, key_id: str) -> ResolvedAccessKey | None:
        if not key_id or len(key_id) > 128:
            return None
        found = await self._repository.find(key_id)
        if found is None:
            return None
        secret, user = found
        return ResolvedAccessKey(secret, Principal(
            user.id, user.username, user.is_admin, user.home_bucket_id, user.home_bucket,
            key_id=key_id))
