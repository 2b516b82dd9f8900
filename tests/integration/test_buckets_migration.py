"""Migration 0007 on a database holding wave-1 rows: every user gets a home bucket,
every file lands in its owner's home bucket at the same path, implied directories
exist, open sessions commit into the home bucket, and nothing else changes."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from common.migrate import apply_migrations
from master.metadata.pool import MIGRATIONS_DIR

WAVE_1 = [p for p in sorted(MIGRATIONS_DIR.glob("000[1-5]_*.sql"))]
USERS = ["alice", "Alice", "a_b", "ab", "___", "alice-2", "Bob.Smith", "192.168.0.1"]


def _insert_wave_1_rows(url: str) -> dict[str, int]:
    """Users, a chunk, files with versions and a session, inserted the wave-1 way."""
    ids: dict[str, int] = {}
    with psycopg.connect(url, row_factory=dict_row, autocommit=True) as conn:
        for name in USERS:
            row = conn.execute("INSERT INTO users (username, password_hash) VALUES (%s, 'x')"
                               " RETURNING id", (name,)).fetchone()
            assert row is not None
            ids[name] = row["id"]
        chunk_id = "ab" * 32
        conn.execute("INSERT INTO chunks (chunk_id, raw_size, stored_size, codec, blob_sha256)"
                     " VALUES (%s, 5, 5, 'raw', %s)", (chunk_id, "cd" * 32))
        for owner, path in (("alice", "docs/a/readme.md"), ("alice", "top.txt"),
                            ("Alice", "docs/a/readme.md"), ("ab", "x/y/z/deep.bin")):
            file_id, version_id = uuid.uuid4(), uuid.uuid4()
            with conn.transaction():
                conn.execute("INSERT INTO files (id, owner_id, path, current_version_id)"
                             " VALUES (%s, %s, %s, %s)", (file_id, ids[owner], path, version_id))
                conn.execute("INSERT INTO file_versions (id, file_id, size, sha256, chunk_size,"
                             " chunk_count, mode) VALUES (%s, %s, 5, %s, 4194304, 1, 'C')",
                             (version_id, file_id, "ef" * 32))
                conn.execute("INSERT INTO version_chunks VALUES (%s, 0, %s)",
                             (version_id, chunk_id))
        conn.execute("INSERT INTO upload_sessions (id, owner_id, path, file_name, file_size,"
                     " chunk_size, total_chunks, expires_at) VALUES"
                     " (%s, %s, 'up/big.bin', 'big.bin', 10, 65536, 1, now() + interval '1h')",
                     (uuid.uuid4(), ids["a_b"]))
    return ids


async def test_wave_1_files_move_into_their_owners_home_buckets(
    pg_url: str, tmp_path: Path
) -> None:
    for script in WAVE_1:
        shutil.copy(script, tmp_path / script.name)
    await apply_migrations(pg_url, "master", tmp_path)
    ids = _insert_wave_1_rows(pg_url)

    applied = await apply_migrations(pg_url, "master", MIGRATIONS_DIR)
    assert "0007_buckets.sql" in applied

    with psycopg.connect(pg_url, row_factory=dict_row) as conn:
        homes = {r["username"]: r["name"] for r in conn.execute(
            "SELECT u.username, b.name FROM users u JOIN buckets b ON b.home_of = u.id"
            " AND b.owner_id = u.id")}
        files = conn.execute(
            "SELECT u.username, b.name AS bucket, f.path, f.parent, f.name, v.sha256"
            " FROM files f JOIN buckets b ON b.id = f.bucket_id JOIN users u ON u.id = f.owner_id"
            " JOIN file_versions v ON v.id = f.current_version_id ORDER BY b.name, f.path"
        ).fetchall()
        dirs = {(r["name"], r["path"]) for r in conn.execute(
            "SELECT b.name, d.path FROM directories d JOIN buckets b ON b.id = d.bucket_id")}
        session = conn.execute(
            "SELECT b.name FROM upload_sessions s JOIN buckets b ON b.id = s.bucket_id"
        ).fetchone()
    # The naming rule: lowercased, runs outside a-z0-9 -> '-', trimmed, 'user-' if short,
    # '-<user id>' when the name is taken (in user id order).
    # A fresh database numbers users from 1: 'Alice' (id 2) took 'alice-2' first, so the
    # user named 'alice-2' gets its own id appended.
    assert ids["Alice"] == 2
    assert homes == {
        "alice": "alice", "Alice": "alice-2", "a_b": "a-b", "ab": "user-ab",
        "___": "user", "alice-2": f"alice-2-{ids['alice-2']}", "Bob.Smith": "bob-smith",
        "192.168.0.1": "192-168-0-1",
    }
    assert [(f["username"], f["bucket"], f["path"]) for f in files] == [
        ("alice", "alice", "docs/a/readme.md"),
        ("alice", "alice", "top.txt"),
        ("Alice", f"alice-{ids['Alice']}", "docs/a/readme.md"),
        ("ab", "user-ab", "x/y/z/deep.bin"),
    ]
    assert {(f["path"], f["parent"], f["name"]) for f in files} >= {
        ("top.txt", "", "top.txt"), ("x/y/z/deep.bin", "x/y/z", "deep.bin")}
    assert all(f["sha256"] == "ef" * 32 for f in files)
    assert dirs == {("alice", "docs"), ("alice", "docs/a"), (f"alice-{ids['Alice']}", "docs"),
                    (f"alice-{ids['Alice']}", "docs/a"), ("user-ab", "x"), ("user-ab", "x/y"),
                    ("user-ab", "x/y/z")}
    assert session == {"name": "a-b"}


async def test_a_home_bucket_name_someone_took_gets_the_user_id_suffix(pg_url: str) -> None:
    await apply_migrations(pg_url, "master", MIGRATIONS_DIR)
    with psycopg.connect(pg_url, row_factory=dict_row, autocommit=True) as conn:
        owner = conn.execute("INSERT INTO users (username, password_hash) VALUES ('zed', 'x')"
                             " RETURNING id").fetchone()
        assert owner is not None
        conn.execute("SELECT echofs_create_home_bucket(%s, 'zed')", (owner["id"],))
        conn.execute("INSERT INTO buckets (name, owner_id) VALUES ('carol', %s)", (owner["id"],))
        carol = conn.execute("INSERT INTO users (username, password_hash) VALUES ('Carol', 'x')"
                             " RETURNING id").fetchone()
        assert carol is not None
        name = conn.execute("SELECT echofs_create_home_bucket(%s, 'Carol') AS n",
                            (carol["id"],)).fetchone()
    assert name == {"n": f"carol-{carol['id']}"}
