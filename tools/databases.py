"""Throwaway databases on a PostgreSQL server: for tests, benchmarks and experiments."""

from __future__ import annotations

import uuid
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
