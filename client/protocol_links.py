"""Download links (DESIGN §12) and the change feed (§13) as sans-I/O calls.

A link's URL (``/d/<token>``) is its credential: it is in the answer that made the link
only, and :class:`~client.models_access.NewLink` keeps it out of its ``repr``. The
change feed is read by long polls (``wait_s``): one GET answers once a matching event
exists or the wait ran out, with ``last_id`` to continue after; polls are plain
idempotent requests, so the client's retries and master failover apply to them.
"""

from __future__ import annotations

from client import addressing
from client.models_access import EventPage, Link, NewLink
from client.protocol import ApiRequest, ApiResponse, Call, data_of
from common.errors import InvalidInput

__all__ = ["MAX_WAIT_S", "create_link", "events", "list_links", "revoke_link"]

MAX_WAIT_S = 60.0  # well below the client's read timeout (client.transport)


def create_link(remote: str, expires_in_s: int, max_uses: int | None,
                master_url: str) -> Call[NewLink]:
    """A link to the current version of the file ``bucket/path``, valid for
    ``expires_in_s`` and, with ``max_uses``, that many downloads."""
    body: dict[str, object] = {"path": str(addressing.parse(remote)),
                               "expires_in_s": expires_in_s}
    if max_uses is not None:
        body["max_uses"] = max_uses
    request = ApiRequest("POST", "/api/v1/links", idempotent=False, json_body=body)
    return Call(request, lambda r: NewLink.from_json(data_of(r), master_url))


def list_links(bucket: str | None = None, everyone: bool = False, cursor: str | None = None,
               limit: int = 100) -> Call[tuple[tuple[Link, ...], str | None]]:
    """One page of links, newest first: the caller's; with ``bucket``, every link made
    in that bucket (its owner only); with ``everyone``, every link (admins only). And
    the cursor of the next page (None at the end)."""
    params = {"limit": str(limit)}
    if bucket:
        params["bucket"] = bucket
    if everyone:
        params["all"] = "true"
    if cursor:
        params["cursor"] = cursor

    def parse(r: ApiResponse) -> tuple[tuple[Link, ...], str | None]:
        data = data_of(r)
        nxt = data.get("next_cursor")
        return tuple(Link.from_json(x) for x in data.get("links") or ()), (
            str(nxt) if nxt else None)
    return Call(ApiRequest("GET", "/api/v1/links", idempotent=True, params=params), parse)


def revoke_link(link_id: str) -> Call[Link]:
    request = ApiRequest("DELETE", f"/api/v1/links/{addressing.quote(link_id)}",
                         idempotent=False)
    return Call(request, lambda r: Link.from_json(data_of(r)))


def events(bucket: str | None = None, prefix: str = "", after: int | None = None,
           types: tuple[str, ...] = (), wait_s: float = 0.0,
           limit: int = 100) -> Call[EventPage]:
    """Events after ``after`` (None: from now on) in the buckets the caller can read
    (or only ``bucket``, paths starting with ``prefix``, of ``types``), waiting up to
    ``wait_s`` for one. ``cursor_expired`` (exit 8) when ``after`` was pruned."""
    if not 0 <= wait_s <= MAX_WAIT_S:
        raise InvalidInput(f"wait_s must be between 0 and {MAX_WAIT_S:.0f}")
    params = {"limit": str(limit), "wait_s": f"{wait_s:g}"}
    if bucket:
        params["bucket"] = bucket
    if prefix:
        params["prefix"] = prefix
    if after is not None:
        params["after"] = str(after)
    if types:
        params["types"] = ",".join(types)
    request = ApiRequest("GET", "/api/v1/events", idempotent=True, params=params)
    return Call(request, lambda r: EventPage.from_json(data_of(r)))
