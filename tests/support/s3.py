"""S3 gateway test helpers: a user with an access key, and S3 clients for it."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import psycopg
from botocore.config import Config

from tests.support.db import query
from tools.cluster import LocalCluster

__all__ = ["S3User", "client_for", "new_s3_user"]


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


def new_s3_user(cluster: LocalCluster, password: str = "pw-123456789") -> S3User:
    """Register a user through the REST API and give it an S3 access key."""
    username = f"s3u{uuid.uuid4().hex[:10]}"
    with httpx.Client(base_url=cluster.master_url, timeout=30) as http:
        created = http.post("/api/v1/auth/register",
                            json={"username": username, "password": password})
        assert created.status_code == 201, created.text
        login = http.post("/api/v1/auth/login",
                          json={"username": username, "password": password})
        assert login.status_code == 200, login.text
    key_id, secret = _provisional_key(cluster, username)
    return S3User(username, created.json()["data"]["home_bucket"],
                  login.json()["data"]["token"], key_id, secret, cluster.s3_url)


def _provisional_key(cluster: LocalCluster, username: str) -> tuple[str, str]:
    """PROVISIONAL until the API keys (issue 17) land: the table the gateway's
    provisional key lookup reads. Replaced by ``POST /api/v1/keys``."""
    key_id, secret = f"EK{secrets.token_hex(8).upper()}", secrets.token_urlsafe(30)
    with psycopg.connect(cluster.spec.database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS s3_provisional_keys (key_id text PRIMARY"
                     " KEY, secret text NOT NULL, user_id bigint NOT NULL)")
    query(cluster.spec.database_url,
          "INSERT INTO s3_provisional_keys SELECT %s, %s, id FROM users WHERE username = %s"
          " RETURNING key_id", (key_id, secret, username))
    return key_id, secret


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
