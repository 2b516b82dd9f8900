"""Real PostgreSQL and Redis for tests: one embedded server each per test session,
a fresh database per test that asks for one.

Set ``ECHOFS_TEST_DATABASE_URL`` / ``ECHOFS_TEST_REDIS_URL`` to use servers of your own.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

__all__ = ["create_database", "database_url_for"]


def database_url_for(server_url: str, dbname: str) -> str:
    """The same server URL with another database name (keeps ?host= for Unix sockets)."""
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{dbname}", parts.query, parts.fragment))


def create_database(server_url: str, prefix: str = "t") -> str:
    """CREATE a uniquely named database and return its URL."""
    dbname = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    return database_url_for(server_url, dbname)


def env_override(name: str) -> str:
    return os.environ.get(name, "")


def scratch_dir() -> Path:
    """Where a test session keeps its embedded servers' data (under the repo's var/)."""
    root = Path(__file__).resolve().parents[2] / "var" / "test"
    root.mkdir(parents=True, exist_ok=True)
    return root
