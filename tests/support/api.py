"""A small HTTP client for the master's API, used by integration and fault tests."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp

__all__ = ["ApiClient"]


@dataclass
class ApiClient:
    base_url: str
    session: aiohttp.ClientSession
    token: str = ""
    home_bucket: str = ""

    def fs_url(self, path: str, bucket: str | None = None) -> str:
        """The ``/api/v1/fs/{bucket}/{path}`` URL of ``path`` (default: the home bucket)."""
        return f"{self.base_url}/api/v1/fs/{bucket or self.home_bucket}/{path}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def register_and_login(
        self, username: str | None = None, password: str = "pw-123456789"
    ) -> str:
        username = username or f"u{uuid.uuid4().hex[:10]}"
        async with self.session.post(
            f"{self.base_url}/api/v1/auth/register",
            json={"username": username, "password": password},
        ) as r:
            assert r.status == 201, await r.text()
            self.home_bucket = (await r.json())["data"]["home_bucket"]
        async with self.session.post(
            f"{self.base_url}/api/v1/auth/login", json={"username": username, "password": password}
        ) as r:
            assert r.status == 200, await r.text()
            self.token = (await r.json())["data"]["token"]
        return self.token

    async def upload_multipart(
        self, data: bytes, path: str, consistency: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        form = aiohttp.FormData()
        form.add_field("path", path)
        if consistency:
            form.add_field("consistency", consistency)
        form.add_field(
            "file",
            io.BytesIO(data),
            filename=path.rsplit("/", 1)[-1],
            content_type="application/octet-stream",
        )
        async with self.session.post(
            f"{self.base_url}/api/v1/files/upload", data=form, headers=self.auth
        ) as r:
            return r.status, await r.json()

    async def upload_raw(
        self, data: Any, path: str, consistency: str | None = None, bucket: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        params = {"consistency": consistency} if consistency else {}
        if isinstance(data, bytes | bytearray):
            data = io.BytesIO(data)
        async with self.session.put(
            self.fs_url(path, bucket), data=data, params=params, headers=self.auth
        ) as r:
            return r.status, await r.json()

    async def download(
        self, file_id: str, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, Any]:
        async with self.session.get(
            f"{self.base_url}/api/v1/files/{file_id}/download",
            headers={**self.auth, **(headers or {})},
        ) as r:
            return r.status, await r.read(), r.headers

    async def get_json(self, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        async with self.session.get(f"{self.base_url}{path}", headers=self.auth, **kwargs) as r:
            return r.status, await r.json()

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        """``method`` on ``{base_url}{path}`` with the token; (status, JSON body)."""
        headers = {**self.auth, **kwargs.pop("headers", {})}
        async with self.session.request(method, f"{self.base_url}{path}", headers=headers,
                                        **kwargs) as r:
            return r.status, await r.json()

    async def fs(self, method: str, bucket: str, path: str, **kwargs: Any
                 ) -> tuple[int, dict[str, Any]]:
        """``call`` on ``/api/v1/fs/{bucket}/{path}`` (JSON answers only)."""
        return await self.call(method, f"/api/v1/fs/{bucket}/{path}", **kwargs)

    async def read(self, bucket: str, path: str, **params: str) -> tuple[int, bytes, Any]:
        async with self.session.get(self.fs_url(path, bucket), headers=self.auth,
                                    params=params) as r:
            return r.status, await r.read(), r.headers
