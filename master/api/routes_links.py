"""Download links (DESIGN §12): ``/api/v1/links`` to manage them, ``/d/{token}`` to use
one without authentication (the auth gate lists ``/d/{token}`` as public).

``GET /d/{token}`` answers like a file download (Range, If-Range, ETag, HEAD) through the
same ``send_file``, plus ``Cache-Control: no-store`` (a shared cache must not serve a
single-use link a second time) and ``Referrer-Policy: no-referrer``. The token appears
in no answer but the one that created the link; the request log names the route
template (``/d/{token}``), never the path.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from common.errors import InvalidInput
from master.api.common import ok, principal_of, query_text, read_json_object, services_of
from master.api.file_responses import send_file
from master.api.routes_fs import flag
from master.domain.links import LinkRecord

__all__ = ["routes"]

routes = web.RouteTableDef()

_FIELDS = {"path", "expires_in_s", "max_uses"}
_LINK_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def link_json(link: LinkRecord) -> dict[str, Any]:
    """A link as ``GET /api/v1/links`` shows it: never its token or URL."""
    return {
        "link_id": str(link.id), "path": f"{link.bucket}/{link.path}",
        "version_id": str(link.version_id), "created_by": link.creator,
        "created_at": _iso(link.created_at), "expires_at": _iso(link.expires_at),
        "max_uses": link.max_uses, "uses": link.uses, "last_used_at": _iso(link.last_used_at),
        "revoked_at": _iso(link.revoked_at), "state": link.state,
    }


@routes.post("/api/v1/links")
async def create_link(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    unknown = set(body) - _FIELDS
    if unknown:
        raise InvalidInput(f"unknown fields: {', '.join(sorted(unknown))}")
    created = await services_of(request).links.create(
        principal_of(request), body, client=request.remote or "")
    link = created.link
    return ok({"link_id": str(link.id), "url": created.url, "expires_at": _iso(link.expires_at),
               "max_uses": link.max_uses, "path": f"{link.bucket}/{link.path}",
               "version_id": str(link.version_id)}, "link created", status=201)


@routes.get("/api/v1/links")
async def list_links(request: web.Request) -> web.Response:
    raw_limit = request.query.get("limit", "100")
    if not raw_limit.isdigit():
        raise InvalidInput("limit must be an integer from 1 to 1000")
    page = await services_of(request).links.list_links(
        principal_of(request), bucket=query_text(request, "bucket", max_len=63),
        everyone=flag(request, "all"), cursor=query_text(request, "cursor", max_len=32),
        limit=int(raw_limit[:8]),
    )
    return ok({"links": [link_json(link) for link in page.links],
               "next_cursor": page.next_cursor})


@routes.delete("/api/v1/links/{link_id}")
async def revoke_link(request: web.Request) -> web.Response:
    link = await services_of(request).links.revoke(
        principal_of(request), request.match_info["link_id"], client=request.remote or "")
    return ok(link_json(link), "link revoked")


@routes.get("/d/{token}")
async def download_link(request: web.Request) -> web.StreamResponse:
    opened = await services_of(request).links.open(request.match_info["token"])
    return await send_file(request, opened.snapshot, use=opened.use,
                           extra_headers=_LINK_HEADERS)
