"""Refuse to start on settings that would leave the cluster open (DESIGN.md §15).

A secret that is empty, short, or one that anybody can read in a repository or a
tutorial lets anyone who reaches the port act as the cluster (forge JWTs for any
user, register workers, sign worker RPCs). Each service checks its secrets before it
binds a port; outside ``DEV_MODE`` a bad one stops the process with a single line on
stderr that names the variable and what to do, and never echoes the value.
"""

from __future__ import annotations

import hashlib
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
# placeholders, as SHA-256 of the lower-cased text: the list itself publishes none of
# them again.
WELL_KNOWN_SECRETS = frozenset({
    "442a9966828869f6858b24169219b06cebb49305992c20f175e4a36c6962c962",
    "00413295978df66d5d0b026aff6f677f3363ffff1e25d0d1c586cf75839e15c8",
    "579f5a7eed9106438389ffd128cad52a6dba4adf47bb9a76b6621ef8f80d6a4e",
    "6130d9ca31919de169b80aa8ac4dc2df7f81487a8ebe9d9ce85ce3f4d68f63d1",
    "057ba03d6c44104863dc7361fe4578965d1887360f90a0895882e58a6248fc86",
    "e2186dbdb1bb4193608605e84f33208765b5693b55edd4f730a719a100eeea6f",
    "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b",
    "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
    "dd8d38af8ca3b7e5cc8990aecfd9bf8ee8d30491fbcdcc53aafd53453ce03e7c",
    "2fb6f1c2e31bf7bfd3cc3166e2f55a8a30a1408d1570d3b73d4c68f2baec033c",
    "ffdb7fba039816624970657f42b1ffd67cf329918246c54bd62bc45fa13abd4a",
    "1d92dae504a70fbcae6d3721a55d7eacaf94d3133ea5f0394b7d203d64841110",
    "37a8eec1ce19687d132fe29051dca629d164e2c4958ba141d5f4133a33f0688f",
})


def _is_well_known(value: str) -> bool:
    return hashlib.sha256(value.lower().encode()).hexdigest() in WELL_KNOWN_SECRETS


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
    if _is_well_known(value):
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
