"""Real PostgreSQL and Redis for tests: one embedded server each per test session,
a fresh database per test that asks for one.

Set ``ECHOFS_TEST_DATABASE_URL`` / ``ECHOFS_TEST_REDIS_URL`` to use servers of your own.
"""

from __future__ import annotations

import os
from pathlib import Path

from tools.databases import create_database, database_url_for

__all__ = ["create_database", "database_url_for"]


def env_override(name: str) -> str:
    return os.environ.get(name, "")


def scratch_dir() -> Path:
    """Where a test session keeps its embedded servers' data (under the repo's var/)."""
    root = Path(__file__).resolve().parents[2] / "var" / "test"
    root.mkdir(parents=True, exist_ok=True)
    return root
