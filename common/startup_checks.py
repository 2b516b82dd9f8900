"""Refuse to start on settings that would leave the cluster open (DESIGN.md §15).

A secret that is empty, short, or one that anybody can read in a repository or a
tutorial lets anyone who reaches the port act as the cluster (forge JWTs for any
user, register workers, sign worker RPCs). Each service checks its secrets before it
binds a port; outside ``DEV_MODE`` a bad one stops the process with a single line on
stderr that names the variable and what to do, and never echoes the value.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MIN_SECRET_CHARS",
    "WELL_KNOWN_SECRETS",
    "StartupRefused",
    "check_cluster_identity",
    "check_secret",
    "check_tls_files",
    "exit_if_refused",
]

MIN_SECRET_CHARS = 32

# Every value this repository ever shipped as a default or example, and the usual
# placeholders. Compared case-insensitively.
WELL_KNOWN_SECRETS = frozenset({
    "dev-insecure-jwt-secret-change-me-32b",
    "dev-cluster-secret",
    "test-cluster-secret",
    "test-jwt-secret-0123456789abcdef",
    "changeme", "change-me", "secret", "password", "jwt-secret", "cluster-secret",
    "please-change-me", "insecure", "default",
})


@dataclass(frozen=True)
class StartupRefused(Exception):
    """A setting makes starting unsafe; ``reason`` is the one line to print."""

    reason: str

    def __str__(self) -> str:
        return self.reason


def check_secret(name: str, value: str, *, dev_mode: bool) -> None:
    """Raise StartupRefused if ``value`` is empty, short or well known (unless dev mode).

    The message names the variable and how to make a good one, never the value.
    """
    if dev_mode:
        return
    how = 'generate one with: python3 -c "import secrets; print(secrets.token_urlsafe(48))"'
    if not value:
        raise StartupRefused(f"{name} is not set; {how} (or set DEV_MODE=1 for a local toy)")
    if value.lower() in WELL_KNOWN_SECRETS:
        raise StartupRefused(
            f"{name} is a well-known value published with EchoFS or in examples; {how}"
        )
    if len(value) < MIN_SECRET_CHARS:
        raise StartupRefused(
            f"{name} is {len(value)} characters; at least {MIN_SECRET_CHARS} are required; {how}"
        )


def check_tls_files(names_and_paths: Iterable[tuple[str, Path | None]]) -> bool:
    """All of the files given, or none: True when all are set (TLS on).

    Raises StartupRefused when only some are set or one cannot be read.
    """
    pairs = list(names_and_paths)
    given = [(name, path) for name, path in pairs if path is not None and str(path)]
    if not given:
        return False
    if len(given) != len(pairs):
        missing = ", ".join(name for name, path in pairs if path is None or not str(path))
        raise StartupRefused(f"TLS is half configured: {missing} not set (set all or none)")
    for name, path in given:
        assert path is not None
        if not Path(path).is_file():
            raise StartupRefused(f"{name} names {path}, which is not a readable file")
    return True


def exit_if_refused(service: str, error: StartupRefused) -> None:
    """Print the one-line reason and exit with status 2 (misconfiguration)."""
    sys.stderr.write(f"{service}: refusing to start: {error.reason}\n")
    sys.stderr.flush()
    raise SystemExit(2)


def check_cluster_identity(settings: object) -> None:
    """CLUSTER_SECRET is strong (or dev mode) and the CLUSTER_TLS_* files are all or none.

    Raises StartupRefused.
    """
    dev_mode = bool(getattr(settings, "dev_mode", False))
    check_secret("CLUSTER_SECRET", getattr(settings, "cluster_secret", ""), dev_mode=dev_mode)
    check_tls_files([
        ("CLUSTER_TLS_CA_FILE", getattr(settings, "cluster_tls_ca_file", None)),
        ("CLUSTER_TLS_CERT_FILE", getattr(settings, "cluster_tls_cert_file", None)),
        ("CLUSTER_TLS_KEY_FILE", getattr(settings, "cluster_tls_key_file", None)),
    ])
