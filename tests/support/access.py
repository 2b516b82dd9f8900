"""Helpers for access tests (DESIGN §12): users, the cluster admin, API keys, the same
caller through another master."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import aiohttp

from tests.support.api import ApiClient

__all__ = ["PASSWORD", "admin_client", "as_token", "make_key", "new_user", "via"]

PASSWORD = "pw-123456789"


async def new_user(base_url: str, session: aiohttp.ClientSession, prefix: str = "u"
                   ) -> tuple[ApiClient, str]:
    """A freshly registered, logged-in user and its name."""
    username = f"{prefix}{uuid.uuid4().hex[:8]}"
    client = ApiClient(base_url, session)
    await client.register_and_login(username, PASSWORD)
    return client, username


async def admin_client(base_url: str, session: aiohttp.ClientSession, admin: str
                       ) -> ApiClient:
    """The cluster admin (``ADMIN_USERS``), registered on first use."""
    client = ApiClient(base_url, session)
    async with session.post(f"{base_url}/api/v1/auth/login",
                            json={"username": admin, "password": PASSWORD}) as r:
        if r.status == 200:
            client.token = (await r.json())["data"]["token"]
            client.home_bucket = (await r.json())["data"]["home_bucket"]
            return client
    await client.register_and_login(admin, PASSWORD)
    return client


def as_token(client: ApiClient, token: str) -> ApiClient:
    """The same user (same home bucket) calling with another bearer token."""
    return replace(client, token=token)


def via(client: ApiClient, base_url: str) -> ApiClient:
    """The same caller talking to another master."""
    return replace(client, base_url=base_url)


async def make_key(client: ApiClient, **body: Any) -> dict[str, Any]:
    """POST /api/v1/keys (name defaults to "test"); the created key's data."""
    status, answer = await client.call("POST", "/api/v1/keys",
                                       json={"name": "test", **body})
    assert status == 201, answer
    data: dict[str, Any] = answer["data"]
    return data
