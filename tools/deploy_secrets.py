"""Make the secrets and certificates a deployment of ``deploy/`` needs (README: "Running
on Kubernetes", "Running with Docker Compose").

    python -m tools.deploy_secrets --out deploy/secrets

writes, each file 0600 and never over an existing one (run it again: nothing changes):

- ``echofs.env``: ``CLUSTER_SECRET``, ``JWT_SECRET``, ``KEY_ENCRYPTION_KEY`` (48 random
  bytes each, so no service refuses them), ``POSTGRES_PASSWORD``, ``S3_ACCESS_KEY_ID`` /
  ``S3_SECRET_ACCESS_KEY`` and ``GRAFANA_ADMIN_PASSWORD`` for the Compose stack's own
  PostgreSQL, S3 endpoint and Grafana; Compose reads it with ``--env-file``, Kubernetes
  with ``--from-env-file``.
- ``tls/``: a cluster CA (``ca.pem``; ``ca.key`` stays here, it goes in no Secret) and a
  certificate per process, named as the master checks them: ``master``, ``controller``
  and one per worker id (the StatefulSet's pod names, ``echofs-worker-0`` ...).

``deploy/.gitignore`` keeps ``deploy/secrets/`` out of git. These are self-made, for a
cluster without its own PKI; with cert-manager or Vault, issue the same names there.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from tools.certs import ClusterCa

__all__ = ["main", "write_secrets"]

SECRET_NAMES = ("CLUSTER_SECRET", "JWT_SECRET", "KEY_ENCRYPTION_KEY", "POSTGRES_PASSWORD",
                "S3_SECRET_ACCESS_KEY", "GRAFANA_ADMIN_PASSWORD")
DEFAULT_WORKERS = "echofs-worker-0,echofs-worker-1,echofs-worker-2"


def write_secrets(out: Path, worker_ids: list[str], valid_days: int = 365) -> list[Path]:
    """Make what is missing under ``out``; return the files written now."""
    written: list[Path] = []
    env_file = out / "echofs.env"
    if not env_file.exists():
        values = {name: secrets.token_urlsafe(48) for name in SECRET_NAMES}
        values["S3_ACCESS_KEY_ID"] = "echofs-" + secrets.token_hex(8)
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.writelines(f"{name}={value}\n" for name, value in sorted(values.items()))
        written.append(env_file)
    ca = ClusterCa(out / "tls", valid_days=valid_days)
    for name in ("master", "controller", *worker_ids):
        if not (out / "tls" / f"{name}.pem").exists():
            files = ca.issue(name)
            written += [files.cert_file, files.key_file]
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.deploy_secrets",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("deploy/secrets"),
                        help="folder to write into (default deploy/secrets, git-ignored)")
    parser.add_argument("--workers", default=DEFAULT_WORKERS,
                        help=f"comma-separated worker ids to certify (default {DEFAULT_WORKERS})")
    parser.add_argument("--days", type=int, default=365, help="certificate lifetime, days")
    args = parser.parse_args(argv)
    worker_ids = [w.strip() for w in args.workers.split(",") if w.strip()]
    written = write_secrets(args.out, worker_ids, args.days)
    for path in written:
        sys.stdout.write(f"wrote {path}\n")
    if not written:
        sys.stdout.write(f"{args.out}: everything already there; nothing written\n")


if __name__ == "__main__":
    main()
