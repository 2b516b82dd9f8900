"""``echofs status``: cluster health, and the workers when logged in."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from client.commands.common import Decorator, size_text
from common.errors import Unavailable

if TYPE_CHECKING:
    from client.cli import Invocation

__all__ = ["register"]


def register(cli: click.Group, per_command: Decorator) -> None:
    @cli.command()
    @per_command
    def status(inv: Invocation) -> None:
        """Cluster health, and the workers when logged in."""
        config = inv.config()
        with inv.client() as client:
            health = client.health()
            workers = client.workers() if config.token else ()
        lines = [f"master {health.master_url}: {health.status} (postgres {health.postgres}, "
                 f"redis {health.redis}, workers {health.workers_healthy}/"
                 f"{health.workers_total} healthy)"]
        for w in workers:
            rtt = f"{w.rtt_ms:.1f} ms" if w.rtt_ms is not None else "-"
            lines.append(f"  {w.worker_id:<16} {w.state:<8} {w.address:<22} rtt {rtt:>9}  "
                         f"used {size_text(w.used_bytes)} of {size_text(w.capacity_bytes)}, "
                         f"{w.chunk_count} chunks")
        inv.output.result({"health": health.to_json(), "workers": [w.to_json() for w in workers]},
                          "\n".join(lines))
        if health.status == "unavailable":
            raise Unavailable("the cluster reports itself unavailable")
