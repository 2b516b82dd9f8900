"""``echofs group create | ls | add-member | rm-member``: groups of users, which buckets
are shared with (DESIGN §12). Whoever creates a group manages its members."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from client.commands.common import Decorator
from client.models_access import Group, Membership

if TYPE_CHECKING:
    from client.cli import Invocation

__all__ = ["register"]


def _line(g: Group) -> str:
    members = ", ".join(g.members) or "no members"
    return f"{g.name:<32} {members}"


def _membership_text(m: Membership) -> str:
    if m.member:
        return (f"{m.username} added to {m.group}" if m.changed
                else f"{m.username} was already in {m.group}")
    return f"{m.username} removed from {m.group}"


def register(cli: click.Group, per_command: Decorator) -> click.Group:
    @cli.group()
    def group() -> None:
        """Groups: create, list, add and remove members."""

    @group.command()
    @click.argument("name")
    @per_command
    def create(inv: Invocation, name: str) -> None:
        """Create a group (3-64 letters, digits, _ . -); you manage its members."""
        with inv.client() as client:
            made = client.create_group(name)
        inv.output.result(made.to_json(), f"created group {made.name}")

    @group.command(name="ls")
    @per_command
    def ls(inv: Invocation) -> None:
        """The groups you created or belong to (all of them for an admin)."""
        with inv.client() as client:
            found = client.groups()
        inv.output.result({"groups": [g.to_json() for g in found]},
                          "\n".join(_line(g) for g in found) or "no groups")

    @group.command(name="add-member")
    @click.argument("name")
    @click.argument("username")
    @per_command
    def add_member(inv: Invocation, name: str, username: str) -> None:
        """Add USERNAME to the group NAME."""
        with inv.client() as client:
            changed = client.add_member(name, username)
        inv.output.result(changed.to_json(), _membership_text(changed))

    @group.command(name="rm-member")
    @click.argument("name")
    @click.argument("username")
    @per_command
    def rm_member(inv: Invocation, name: str, username: str) -> None:
        """Remove USERNAME from the group NAME (a member may remove itself)."""
        with inv.client() as client:
            changed = client.remove_member(name, username)
        inv.output.result(changed.to_json(), _membership_text(changed))

    return group
