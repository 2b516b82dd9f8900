"""The clients users already have, unchanged, against the gateway: the AWS CLI, rclone
and s3cmd as subprocesses (installed by the test extra from PyPI), round trips of a tree
byte-equal both ways."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.s3 import S3User

MiB = 1024 * 1024
_BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(_BIN)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (the test extra installs it: make venv)")
    return found


def _run(args: list[str], env: dict[str, str], cwd: Path | None = None) -> str:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, f"{args[:3]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _tree(root: Path, big_bytes: int) -> Path:
    """Nested files: empty, small, a few MiB, and one big one (multipart for the CLIs)."""
    (root / "a" / "b").mkdir(parents=True)
    (root / "empty.txt").write_bytes(b"")
    (root / "a" / "small.txt").write_bytes(b"small file\n")
    (root / "a" / "b" / "mid.bin").write_bytes(os.urandom(3 * MiB + 11))
    with (root / "big.bin").open("wb") as out:
        for _ in range(big_bytes // MiB):
            out.write(os.urandom(MiB))
    return root


def _same(left: Path, right: Path) -> None:
    compared = filecmp.dircmp(left, right)

    def walk(cmp: filecmp.dircmp[str]) -> None:
        assert not cmp.left_only and not cmp.right_only and not cmp.funny_files, cmp.report()
        _, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files,
                                               shallow=False)
        assert not mismatch and not errors, (mismatch, errors)
        for sub in cmp.subdirs.values():
            walk(sub)

    walk(compared)


def _env(user: S3User, home: Path) -> dict[str, str]:
    return {"PATH": f"{_BIN}:{os.environ.get('PATH', '')}", "HOME": str(home),
            "AWS_CONFIG_FILE": str(home / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"), **user.env()}


def test_aws_cli_cp_sync_ls_rm_of_a_tree_with_a_100_mib_file(
    user: S3User, tmp_path: Path
) -> None:
    aws = _tool("aws")
    env = _env(user, tmp_path)
    tree = _tree(tmp_path / "tree", 100 * MiB)
    base = [aws, "--endpoint-url", user.endpoint, "s3"]
    target = f"s3://{user.home_bucket}/awscli"
    _run([*base, "cp", str(tree / "big.bin"), f"{target}/big.bin"], env)  # multipart
    _run([*base, "sync", str(tree), target], env)
    listed = _run([*base, "ls", "--recursive", f"{target}/"], env)
    assert {line.split()[-1] for line in listed.splitlines() if line.strip()} == {
        "awscli/big.bin", "awscli/empty.txt", "awscli/a/small.txt", "awscli/a/b/mid.bin"}
    back = tmp_path / "back"
    _run([*base, "sync", target, str(back)], env)
    _same(tree, back)
    _run([*base, "rm", "--recursive", target], env)
    # `aws s3 ls` of nothing prints nothing (and exits 1).
    gone = subprocess.run([*base, "ls", "--recursive", f"{target}/"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert gone.stdout.strip() == ""


def test_rclone_copy_and_check_both_directions(user: S3User, tmp_path: Path) -> None:
    rclone = _tool("rclone")
    env = {"PATH": f"{_BIN}:{os.environ.get('PATH', '')}", "HOME": str(tmp_path),
           "RCLONE_CONFIG": str(tmp_path / "rclone.conf"),
           "RCLONE_CONFIG_ECHO_TYPE": "s3", "RCLONE_CONFIG_ECHO_PROVIDER": "Other",
           "RCLONE_CONFIG_ECHO_ACCESS_KEY_ID": user.key_id,
           "RCLONE_CONFIG_ECHO_SECRET_ACCESS_KEY": user.secret,
           "RCLONE_CONFIG_ECHO_ENDPOINT": user.endpoint,
           "RCLONE_CONFIG_ECHO_REGION": "us-east-1",
           "RCLONE_CONFIG_ECHO_FORCE_PATH_STYLE": "true"}
    tree = _tree(tmp_path / "tree", 12 * MiB)
    remote = f"echo:{user.home_bucket}/rclone"
    # Small cut-off and chunks: the 12 MiB file goes up in 5 MiB parts.
    flags = ["--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", "--retries", "1"]
    _run([rclone, "copy", str(tree), remote, *flags], env)
    checked = _run([rclone, "check", str(tree), remote], env)
    assert "0 differences found" in checked and "hashes could not be checked" not in checked
    back = tmp_path / "back"
    _run([rclone, "copy", remote, str(back), "--retries", "1"], env)
    checked_back = _run([rclone, "check", remote, str(back)], env)
    assert "0 differences found" in checked_back
    _same(tree, back)


def test_s3cmd_put_get_ls_del(user: S3User, tmp_path: Path) -> None:
    s3cmd = _tool("s3cmd")
    host = user.endpoint.removeprefix("http://")
    config = tmp_path / "s3cfg"
    config.write_text(
        "[default]\n"
        f"access_key = {user.key_id}\nsecret_key = {user.secret}\n"
        f"host_base = {host}\nhost_bucket = {host}\nuse_https = False\n"
        "signature_v2 = False\nbucket_location = us-east-1\n"
        "multipart_chunk_size_mb = 5\n")
    env = {"PATH": f"{_BIN}:{os.environ.get('PATH', '')}", "HOME": str(tmp_path)}
    base = [s3cmd, "-c", str(config)]
    tree = _tree(tmp_path / "tree", 7 * MiB)
    target = f"s3://{user.home_bucket}/s3cmd/"
    _run([*base, "put", "--recursive", str(tree) + "/", target], env)  # 7 MiB: multipart
    listed = _run([*base, "ls", "--recursive", target], env)
    assert sum(1 for line in listed.splitlines() if "s3://" in line) == 4
    back = tmp_path / "back"
    back.mkdir()
    _run([*base, "get", "--recursive", target, str(back) + "/"], env)
    _same(tree, back)
    _run([*base, "del", "--recursive", "--force", target], env)
    assert "s3://" not in _run([*base, "ls", "--recursive", target], env)
