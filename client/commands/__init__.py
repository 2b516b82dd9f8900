"""The commands of ``echofs``, one module per command group (DESIGN §14).

Each module has ``register(cli, per_command)``, adding its commands (or a group of
sub-commands, like ``bucket``) to the ``echofs`` group; ``per_command`` gives a command
``--json`` and the :class:`~client.cli.Invocation`. A command reads its arguments,
calls one SDK method, and renders the typed result (text, or ``to_json()`` with
``--json``); nothing here talks HTTP.

Adding a command group = an SDK call in ``client/protocol_<group>.py``, methods on the
clients (a mixin like ``client/sdk_namespace.py``), typed results with ``to_json``, a
module here, and its name in :data:`GROUPS`.
"""

from __future__ import annotations

from types import ModuleType

import click

from client.commands import (
    account,
    buckets,
    cluster,
    files,
    groups,
    keys,
    links,
    quotas,
    shares,
    transfers,
    versions,
    watch,
)
from client.commands.common import Decorator

__all__ = ["GROUPS", "register_all"]

GROUPS: tuple[ModuleType, ...] = (account, files, transfers, versions, buckets, shares,
                                  quotas, groups, keys, links, watch, cluster)

# DESIGN §14 lists shares and quotas under ``bucket``; they are top-level groups too.
BUCKET_ALIASES = ("share", "quota")


def register_all(cli: click.Group, per_command: Decorator) -> None:
    for group in GROUPS:
        group.register(cli, per_command)
    bucket = cli.commands["bucket"]
    assert isinstance(bucket, click.Group)
    for name in BUCKET_ALIASES:
        bucket.add_command(cli.commands[name], name=name)
