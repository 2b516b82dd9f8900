"""The audit log: who did what to what, for every security-relevant action (DESIGN §12).

Services call ``record`` after an action succeeds (or is refused, with ``outcome``).
What is recorded: logins (ok and failed), registrations, bucket create/update/delete,
shares, groups, quotas, API keys and links created or revoked, and admin actions. Rows
are read by admins only (``page``).

A row never holds a secret: ``record`` refuses detail fields whose names look like
one (password, secret, token), so a careless call fails in tests rather than leaking
into the table. Targets name things by their public names or ids, never by a token.
"""

from __future__ import annotations

import re
from typing import Any

from common.errors import Forbidden, InvalidInput
from master.domain.records import AuditEntry
from master.metadata.audit import AuditRepository
from master.services.auth import Principal

__all__ = ["AuditService"]

_SECRET_NAME = re.compile(r"password|secret|token|authorization", re.IGNORECASE)
_OUTCOMES = ("ok", "denied", "failed")


class AuditService:
    def __init__(self, repository: AuditRepository) -> None:
        self._repository = repository

    async def record(
        self, actor: Principal | None, action: str, target: str = "", *,
        outcome: str = "ok", client: str = "", actor_name: str = "", **details: Any,
    ) -> None:
        """Append one row. ``actor`` None is an anonymous caller (``actor_name`` may say
        whom it claimed to be, e.g. a failed login's username)."""
        if outcome not in _OUTCOMES:
            raise ValueError(f"audit outcome must be one of {_OUTCOMES}")
        leaked = [name for name in details if _SECRET_NAME.search(name)]
        if leaked:
            raise ValueError(f"audit details must not hold secrets: {leaked}")
        await self._repository.append(AuditEntry(
            action=action, target=target, outcome=outcome, client=client, details=details,
            actor_id=actor.user_id if actor else None,
            actor=actor.username if actor else actor_name,
            via=f"key:{actor.key_id}" if actor and actor.key_id else "",
        ))

    async def page(self, caller: Principal, after: int, limit: int,
                   action: str | None = None, actor: str | None = None) -> list[AuditEntry]:
        """Rows after id ``after``, oldest first; admins only."""
        if not caller.is_admin:
            raise Forbidden("the audit log needs the admin role")
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000")
        if after < 0:
            raise InvalidInput("after must be a non-negative integer")
        return await self._repository.page(after, limit, action, actor)
