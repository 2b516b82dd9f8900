"""Download links (DESIGN §12): create, list, revoke, and open one for an anonymous GET.

- **Tokens** are ``secrets.token_urlsafe(32)`` (256 random bits). Only their SHA-256 is
  stored. A slow, salted hash (scrypt, as for passwords) protects *guessable* secrets
  against an attacker who stole the table; a 256-bit random token cannot be guessed, so
  a fast unsalted hash is as safe and lets the unique index find a link by its token.
  The token is returned once, by ``create``, and appears in no log line, error message
  or audit row (``common.logging`` also redacts ``/d/<token>`` wherever a path is logged).
- **A link pins the version** that was current when it was made. It serves that version
  while the version exists and the file does not read as deleted; otherwise 410
  ``link_target_gone`` (in an unversioned bucket an overwrite therefore ends its links).
- **Who may read.** Creating needs READ on the bucket. Serving checks again, each time,
  that the creator (the user, not the API key used) may still read the file's bucket:
  a creator who lost access makes the link answer 404, as if it were revoked.
- **Uses.** Every GET that sends bytes (200 or 206, a Range request too) takes one use;
  HEAD, 304 and 416 take none. The use is claimed atomically in PostgreSQL before the
  first byte (``LinksRepository.claim_use``), so a single-use link is served once under
  any concurrency; if the download fails before its first byte (no replica could serve
  the first chunk) the use is given back. A client that goes away mid-download has used
  it. Counting every ranged GET keeps a single-use link single-use: if only requests
  starting at byte 0 counted, ``Range: bytes=1-`` would read almost all of it for free.
- **Refusals**: unknown or revoked → 404 ``not_found``; expired → 410 ``link_expired``;
  used up → 410 ``link_used``. No state is cached, so a revocation holds at once on
  every master (a download already streaming finishes).
- **Audit**: ``link.create`` and ``link.revoke`` rows, target = the link id. Uses are not
  audited (an unlimited link could add a row per GET); they are counted on the link
  (``uses``, ``last_used_at``), which its creator lists.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from common.errors import (
    BadPath,
    EchoError,
    Forbidden,
    InvalidInput,
    LinkExpired,
    LinkTargetGone,
    LinkUsed,
    NotFound,
)
from master.domain.links import LinkRecord, NewLink
from master.metadata.files import FilesRepository
from master.metadata.links import LinksRepository
from master.services.access import BucketAccess, Permission
from master.services.audit import AuditService
from master.services.auth import Principal
from master.services.files import FileSnapshot
from master.services.paths import split_bucket_path

__all__ = [
    "MAX_USES_LIMIT",
    "CreatedLink",
    "LinkDownload",
    "LinkPage",
    "LinkRequest",
    "LinkService",
    "LinkUse",
    "hash_token",
    "new_token",
    "parse_link_request",
]

log = logging.getLogger(__name__)

MAX_USES_LIMIT = 2**31 - 1  # PostgreSQL integer
TOKEN_BYTES = 32
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # token_urlsafe(32): 43 characters
_UNKNOWN = "no such link"


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii")).digest()


@dataclass(frozen=True, slots=True)
class LinkRequest:
    bucket: str
    path: str
    expires_in_s: int
    max_uses: int | None


def _bounded_int(body: dict[str, Any], key: str, low: int, high: int) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{key} must be an integer from {low} to {high}")
    return value


def parse_link_request(body: dict[str, Any], max_expiry_s: int) -> LinkRequest:
    """A ``POST /api/v1/links`` body, checked: ``path`` "bucket/path" naming a file,
    ``expires_in_s`` required (1 .. ``max_expiry_s``), ``max_uses`` absent/null or >= 1."""
    raw_path = body.get("path")
    if not isinstance(raw_path, str) or not raw_path:
        raise InvalidInput("field 'path' is required: \"bucket/path\" of a file")
    bucket, path = split_bucket_path(raw_path)
    if not path:
        raise BadPath("path must name a file inside the bucket: \"bucket/path\"")
    if "expires_in_s" not in body:
        raise InvalidInput(f"field 'expires_in_s' is required (1 to {max_expiry_s} seconds)")
    expires_in_s = _bounded_int(body, "expires_in_s", 1, max_expiry_s)
    max_uses = None
    if body.get("max_uses") is not None:
        max_uses = _bounded_int(body, "max_uses", 1, MAX_USES_LIMIT)
    return LinkRequest(bucket, path, expires_in_s, max_uses)


@dataclass(frozen=True, slots=True)
class CreatedLink:
    link: LinkRecord
    token: str  # shown once; only its hash is stored

    @property
    def url(self) -> str:
        return f"/d/{self.token}"


@dataclass(frozen=True, slots=True)
class LinkPage:
    links: list[LinkRecord]
    next_cursor: str | None


class LinkUse:
    """One GET's use of a link: claimed before the first byte, given back if no byte
    could be sent."""

    def __init__(self, service: LinkService, link_id: uuid.UUID) -> None:
        self._service = service
        self._link_id = link_id

    async def claim(self) -> None:
        await self._service.claim_use(self._link_id)

    async def release(self) -> None:
        await self._service.release_use(self._link_id)


@dataclass(frozen=True, slots=True)
class LinkDownload:
    """What ``GET /d/{token}`` serves: the pinned version, and the use it takes."""

    link: LinkRecord
    snapshot: FileSnapshot
    use: LinkUse


def _refusal(link: LinkRecord | None) -> EchoError:
    """Why ``link`` cannot be served (the messages never name the token)."""
    if link is None or link.revoked_at is not None:
        return NotFound(_UNKNOWN)
    if link.expired:
        return LinkExpired("this link has expired")
    if link.used_up:
        return LinkUsed("this link has been used up")
    return LinkUsed("this link cannot be used now")  # raced to a refusal; say used


class LinkService:
    def __init__(
        self, links: LinksRepository, files: FilesRepository, access: BucketAccess,
        audit: AuditService, max_expiry_s: int,
    ) -> None:
        self._links = links
        self._files = files
        self._access = access
        self._audit = audit
        self.max_expiry_s = max_expiry_s

    async def create(
        self, caller: Principal, body: dict[str, Any], client: str = ""
    ) -> CreatedLink:
        """A link to the current version of a file the caller may read (else NotFound)."""
        wanted = parse_link_request(body, self.max_expiry_s)
        bucket = await self._access.require(caller, wanted.bucket, Permission.READ)
        record = await self._files.by_path(bucket.name, wanted.path)
        if record is None:
            raise NotFound(f"no file at {bucket.name}/{wanted.path}")
        token = new_token()
        link = await self._links.create(NewLink(
            token_hash=hash_token(token), created_by=caller.user_id,
            created_via=f"key:{caller.key_id}" if caller.key_id else "",
            bucket_id=bucket.id, bucket=bucket.name, path=record.path, file_id=record.id,
            version_id=record.version_id, expires_in_s=wanted.expires_in_s,
            max_uses=wanted.max_uses,
        ))
        await self._audit.record(
            caller, "link.create", str(link.id), client=client,
            path=f"{link.bucket}/{link.path}", version_id=str(link.version_id),
            expires_at=link.expires_at.isoformat(), max_uses=link.max_uses,
        )
        return CreatedLink(link, token)

    async def list_links(
        self, caller: Principal, *, bucket: str = "", everyone: bool = False,
        cursor: str = "", limit: int = 100,
    ) -> LinkPage:
        """The caller's links, newest first; ``bucket``: every link made in that bucket
        (needs owner on it); ``everyone``: every link (admins only)."""
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000")
        if cursor and not cursor.isdigit():
            raise InvalidInput("cursor must be a next_cursor this route returned")
        if everyone and not caller.is_admin:
            raise Forbidden("listing every link needs the admin role")
        bucket_id = None
        if bucket:
            bucket_id = (await self._access.require(caller, bucket, Permission.OWNER)).id
        created_by = None if everyone or bucket_id is not None else caller.user_id
        links = await self._links.page(created_by=created_by, bucket_id=bucket_id,
                                       before_seq=int(cursor) if cursor else None,
                                       limit=limit)
        return LinkPage(links, str(links[-1].seq) if len(links) == limit else None)

    async def revoke(self, caller: Principal, link_id: str, client: str = "") -> LinkRecord:
        """Revoke at once (every master reads the row on every GET). Its creator, the
        owner of its bucket and admins may; anyone else gets NotFound."""
        try:
            parsed = uuid.UUID(link_id)
        except ValueError:
            raise NotFound(f"no link {link_id[:64]!r}") from None
        link = await self._links.by_id(parsed)
        if link is None or not await self._may_manage(caller, link):
            raise NotFound(f"no link {parsed}")
        if await self._links.revoke(link.id, caller.user_id):
            await self._audit.record(caller, "link.revoke", str(link.id), client=client,
                                     path=f"{link.bucket}/{link.path}", creator=link.creator)
        revoked = await self._links.by_id(link.id)
        if revoked is None:  # its creator was deleted meanwhile
            raise NotFound(f"no link {parsed}")
        return revoked

    async def _may_manage(self, caller: Principal, link: LinkRecord) -> bool:
        if caller.is_admin or caller.user_id == link.created_by:
            return True
        try:
            bucket = await self._access.require(caller, link.bucket, Permission.OWNER)
        except (NotFound, Forbidden):
            return False
        return bucket.id == link.bucket_id

    async def open(self, token: str) -> LinkDownload:
        """The version a token's link serves, if it may be served now (see the module
        docstring for the refusals). Takes no use: ``LinkDownload.use`` does."""
        if not _TOKEN_RE.fullmatch(token):
            raise NotFound(_UNKNOWN)
        target = await self._links.target(hash_token(token))
        link = target.link if target is not None else None
        if target is None or link is None or link.state != "active":
            raise _refusal(link)
        if target.current_bucket is None:
            raise LinkTargetGone("the file this link points to no longer exists")
        creator = Principal(link.created_by, link.creator, target.creator_is_admin)
        try:
            await self._access.require(creator, target.current_bucket, Permission.READ)
        except (NotFound, Forbidden):
            raise NotFound(_UNKNOWN) from None
        snapshot = (await self._files.snapshot_of_version(link.file_id, link.version_id)
                    if target.version_live else None)
        if snapshot is None:
            raise LinkTargetGone("the file version this link points to no longer exists")
        return LinkDownload(link, FileSnapshot(*snapshot), LinkUse(self, link.id))

    async def claim_use(self, link_id: uuid.UUID) -> None:
        """Take one use, or raise why the link cannot be served any more."""
        if not await self._links.claim_use(link_id):
            raise _refusal(await self._links.by_id(link_id))
        log.info("download link used", extra={"link_id": str(link_id)})

    async def release_use(self, link_id: uuid.UUID) -> None:
        await self._links.release_use(link_id)
        log.info("download link use given back (nothing was sent)",
                 extra={"link_id": str(link_id)})
