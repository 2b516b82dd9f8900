"""S3 gateway test helpers: a user with an access key, and S3 clients for it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
from botocore.config import Config

from tools.cluster import LocalCluster

__all__ = ["S3User", "client_for", "make_s3_key", "new_s3_user"]


@dataclass(frozen=True)
class S3User:
    username: str
    home_bucket: str
    token: str
    key_id: str
    secret: str
    endpoint: str

    def env(self) -> dict[str, str]:
        """What the AWS CLI (and rclone's env_auth) read."""
        return {"AWS_ACCESS_KEY_ID": self.key_id, "AWS_SECRET_ACCESS_KEY": self.secret,
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true"}


def new_s3_user(cluster: LocalCluster, password: str = "pw-123456789",
                **key: Any) -> S3User:
    """Register a user through the REST API and make it an API key (``key``: the
    key's scope and buckets, default ``rw`` on everything the user reaches)."""
    username = f"s3u{uuid.uuid4().hex[:10]}"
    with httpx.Client(base_url=cluster.master_url, timeout=30) as http:
        created = http.post("/api/v1/auth/register",
                            json={"username": username, "password": password})
        assert created.status_code == 201, created.text
        login = http.post("/api/v1/auth/login",
                          json={"username": username, "password": password})
        assert login.status_code == 200, login.text
        token = login.json()["data"]["token"]
        made = make_s3_key(cluster, token, **key)
    return S3User(username, created.json()["data"]["home_bucket"], token,
                  made["key_id"], made["secret"], cluster.s3_url)


def make_s3_key(cluster: LocalCluster, token: str, **key: Any) -> dict[str, Any]:
    """POST /api/v1/keys with a login token: the key's id and secret (and the rest)."""
    body = {"name": "s3", "permission": "rw", **key}
    with httpx.Client(base_url=cluster.master_url, timeout=30) as http:
        made = http.post("/api/v1/keys", json=body,
                         headers={"Authorization": f"Bearer {token}"})
    assert made.status_code == 201, made.text
    data: dict[str, Any] = made.json()["data"]
    return data


def client_for(user: S3User, **config: Any) -> Any:
    """A boto3 S3 client of ``user`` (path-style unless ``config`` says otherwise)."""
    options: dict[str, Any] = {"s3": {"addressing_style": "path"},
                               "retries": {"max_attempts": 1}, "connect_timeout": 10,
                               "read_timeout": 120}
    options.update(config)
    return boto3.client(
        "s3", endpoint_url=user.endpoint, region_name="us-east-1",
        aws_access_key_id=user.key_id, aws_secret_access_key=user.secret,
        config=Config(signature_version="s3v4", **options),
    )
