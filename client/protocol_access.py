"""Access administration (DESIGN §12) as sans-I/O calls: groups, bucket shares, API
keys and quotas. Links and the change feed are ``client.protocol_links``.

Retries after a lost answer (``client.retry``): setting a share, adding or removing a
member and setting a quota leave the same state when sent twice, so they are idempotent;
creating a group or a key is not (a second key would be made; the group would answer
``conflict``), and neither is revoking a key (the second try says ``not_found``).
"""

from __future__ import annotations

from typing import Any

from client import addressing
from client.models_access import (
    ApiKey,
    Group,
    Membership,
    NewApiKey,
    QuotaUsage,
    Share,
    ShareRemoval,
)
from client.protocol import ApiRequest, ApiResponse, Call, data_of
from common.errors import InvalidInput

__all__ = [
    "GRANTEE_KINDS",
    "KEY_PERMISSIONS",
    "SHARE_PERMISSIONS",
    "add_member",
    "create_group",
    "create_key",
    "delete_share",
    "list_groups",
    "list_keys",
    "list_shares",
    "put_share",
    "remove_member",
    "revoke_key",
    "set_bucket_quota",
    "set_group_quota",
    "set_user_quota",
    "user_usage",
]

GRANTEE_KINDS = ("user", "group")
SHARE_PERMISSIONS = ("ro", "rw", "rwd")
KEY_PERMISSIONS = ("ro", "rw", "admin")


def _grantee(kind: str, name: str) -> None:
    if kind not in GRANTEE_KINDS:
        raise InvalidInput(f"a share goes to a user or a group, not {kind!r}")
    if not name:
        raise InvalidInput(f"empty {kind} name")


# --- groups ------------------------------------------------------------------------------
def list_groups(after: str | None = None, limit: int = 1000) -> Call[tuple[tuple[Group, ...],
                                                                          str | None]]:
    """One page of the groups the caller made or belongs to (all of them for an admin),
    and the name to continue ``after`` (None at the end)."""
    params = {"limit": str(limit)}
    if after:
        params["after"] = after

    def parse(r: ApiResponse) -> tuple[tuple[Group, ...], str | None]:
        data = data_of(r)
        nxt = data.get("next_after")
        return tuple(Group.from_json(g) for g in data.get("groups") or ()), (
            str(nxt) if nxt else None)
    return Call(ApiRequest("GET", "/api/v1/groups", idempotent=True, params=params), parse)


def create_group(name: str) -> Call[Group]:
    request = ApiRequest("POST", "/api/v1/groups", idempotent=False, json_body={"name": name})
    return Call(request, lambda r: Group.from_json(data_of(r)))


def _member_route(group: str, username: str) -> str:
    return f"/api/v1/groups/{addressing.quote(group)}/members/{addressing.quote(username)}"


def add_member(group: str, username: str) -> Call[Membership]:
    def parse(r: ApiResponse) -> Membership:
        return Membership(group, username, True, bool(data_of(r).get("added")))
    return Call(ApiRequest("PUT", _member_route(group, username), idempotent=True), parse)


def remove_member(group: str, username: str) -> Call[Membership]:
    def parse(r: ApiResponse) -> Membership:
        data_of(r)
        return Membership(group, username, False, True)
    return Call(ApiRequest("DELETE", _member_route(group, username), idempotent=False), parse)


# --- shares ------------------------------------------------------------------------------
def _shares_route(bucket: str) -> str:
    return f"{addressing.BUCKETS_ROUTE}/{addressing.quote(bucket)}/shares"


def put_share(bucket: str, kind: str, name: str, permission: str) -> Call[Share]:
    """Share ``bucket`` with a user or a group (``kind``), or change that share's
    permission (ro, rw, rwd)."""
    _grantee(kind, name)
    if permission not in SHARE_PERMISSIONS:
        raise InvalidInput(f"permission must be one of {', '.join(SHARE_PERMISSIONS)}")
    request = ApiRequest("PUT", _shares_route(bucket), idempotent=True,
                         json_body={kind: name, "permission": permission})
    return Call(request, lambda r: Share.from_json(bucket, data_of(r)))


def list_shares(bucket: str) -> Call[tuple[Share, ...]]:
    def parse(r: ApiResponse) -> tuple[Share, ...]:
        return tuple(Share.from_json(bucket, s) for s in data_of(r).get("shares") or ())
    return Call(ApiRequest("GET", _shares_route(bucket), idempotent=True), parse)


def delete_share(bucket: str, kind: str, name: str) -> Call[ShareRemoval]:
    _grantee(kind, name)
    route = f"{_shares_route(bucket)}/{addressing.quote(f'{kind}:{name}')}"

    def parse(r: ApiResponse) -> ShareRemoval:
        data_of(r)
        return ShareRemoval(bucket, kind, name)
    return Call(ApiRequest("DELETE", route, idempotent=False), parse)


# --- API keys ----------------------------------------------------------------------------
def create_key(name: str, permission: str, buckets: list[str] | None = None,
               expires_in_s: int | None = None) -> Call[NewApiKey]:
    """A new key of the caller's (needs a login token, not a key); its secret and token
    are in this answer only."""
    if permission not in KEY_PERMISSIONS:
        raise InvalidInput(f"permission must be one of {', '.join(KEY_PERMISSIONS)}")
    body: dict[str, Any] = {"name": name, "permission": permission}
    if buckets:
        body["buckets"] = list(buckets)
    if expires_in_s is not None:
        body["expires_in_s"] = expires_in_s
    request = ApiRequest("POST", "/api/v1/keys", idempotent=False, json_body=body)
    return Call(request, lambda r: NewApiKey.from_json(data_of(r)))


def list_keys() -> Call[tuple[ApiKey, ...]]:
    def parse(r: ApiResponse) -> tuple[ApiKey, ...]:
        return tuple(ApiKey.from_json(k) for k in data_of(r).get("keys") or ())
    return Call(ApiRequest("GET", "/api/v1/keys", idempotent=True), parse)


def revoke_key(key_id: str) -> Call[ApiKey]:
    request = ApiRequest("DELETE", f"/api/v1/keys/{addressing.quote(key_id)}",
                         idempotent=False)
    return Call(request, lambda r: ApiKey.from_json(data_of(r)))


# --- quotas ------------------------------------------------------------------------------
UNSET: Any = object()  # a quota not to change (None means "no limit")


def _quota_body(quota_bytes: Any, quota_files: Any) -> dict[str, Any]:
    body = {k: v for k, v in (("quota_bytes", quota_bytes), ("quota_files", quota_files))
            if v is not UNSET}
    if not body:
        raise InvalidInput("give a byte quota and/or a file quota (none: no limit)")
    return body


def user_usage() -> Call[QuotaUsage]:
    """The caller's usage over the buckets it owns, against its quotas (the profile)."""
    def parse(r: ApiResponse) -> QuotaUsage:
        data = data_of(r)
        return QuotaUsage.from_json("user", str(data.get("username") or ""),
                                    data.get("usage") or {})
    return Call(ApiRequest("GET", "/api/v1/auth/profile", idempotent=True), parse)


def set_user_quota(username: str, quota_bytes: Any = UNSET,
                   quota_files: Any = UNSET) -> Call[QuotaUsage]:
    """An admin sets a user's quotas (None: no limit; left out: unchanged)."""
    body = _quota_body(quota_bytes, quota_files)
    request = ApiRequest("PATCH", f"/api/v1/admin/users/{addressing.quote(username)}",
                         idempotent=True, json_body=body)
    return Call(request, lambda r: QuotaUsage.from_json("user", username, data_of(r)))


def set_group_quota(group: str, quota_bytes: Any = UNSET,
                    quota_files: Any = UNSET) -> Call[QuotaUsage]:
    """An admin sets a group's quotas, over the buckets charged to the group."""
    body = _quota_body(quota_bytes, quota_files)
    request = ApiRequest("PATCH", f"/api/v1/admin/groups/{addressing.quote(group)}",
                         idempotent=True, json_body=body)
    return Call(request, lambda r: QuotaUsage.from_json("group", group, data_of(r)))


def set_bucket_quota(bucket: str, quota_bytes: Any = UNSET,
                     quota_files: Any = UNSET) -> Call[QuotaUsage]:
    """The bucket's owner (or an admin) sets its quotas; its usage afterwards."""
    body = _quota_body(quota_bytes, quota_files)
    request = ApiRequest("PATCH", f"{addressing.BUCKETS_ROUTE}/{addressing.quote(bucket)}",
                         idempotent=True, json_body=body)
    return Call(request, lambda r: QuotaUsage.from_json("bucket", bucket, data_of(r)))


__all__ += ["UNSET"]
