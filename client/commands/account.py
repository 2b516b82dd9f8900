"""``echofs login`` and ``echofs logout``: the token in the config file (mode 0600).

``login`` takes a password (prompted, or ``--password-stdin``) and stores the JWT it is
given, or with ``--api-key-stdin`` an API key's token (``echofs key create``), checked
against the server (the profile) before it is stored."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from client import config as config_file
from client.commands.common import Decorator
from client.sync_client import Client
from common.errors import InvalidInput

if TYPE_CHECKING:
    from client.cli import Invocation

__all__ = ["register"]


def _password(password_stdin: bool) -> str:
    if password_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, err=True))


def register(cli: click.Group, per_command: Decorator) -> None:
    @cli.command()
    @click.argument("username", required=False)
    @click.option("--password-stdin", is_flag=True,
                  help="Read the password from the first line of stdin.")
    @click.option("--api-key-stdin", is_flag=True,
                  help="Log in with an API key: read its token (efk_...) from stdin.")
    @per_command
    def login(inv: Invocation, username: str | None, password_stdin: bool,
              api_key_stdin: bool) -> None:
        """Log in and store the token in the config file (mode 0600)."""
        config = inv.config()
        if api_key_stdin:
            _login_with_key(inv, username)
            return
        name = username or config.username
        if not name:
            name = str(click.prompt("Username", err=True))
        password = _password(password_stdin)
        if not password:
            raise InvalidInput("empty password")
        with inv.client() as client:
            result = client.login(name, password)
        path = config_file.save(config.with_login(result.token, result.username))
        inv.output.result({**result.to_json(), "config": str(path), "urls": list(config.urls)},
                          f"logged in as {result.username} ({', '.join(config.urls)}); "
                          f"token saved in {path}")

    def _login_with_key(inv: Invocation, username: str | None) -> None:
        if username:
            raise click.UsageError("--api-key-stdin takes no USERNAME (the key names it)")
        token = sys.stdin.readline().strip()
        if not token:
            raise InvalidInput("no API key token on stdin")
        config = inv.config().with_login(token, None)
        with Client(config) as client:
            who = client.profile()  # a revoked or unknown key stops here, nothing saved
        path = config_file.save(config.with_login(token, who.username))
        inv.output.result({**who.to_json(), "config": str(path), "urls": list(config.urls)},
                          f"logged in as {who.username} with an API key "
                          f"({', '.join(config.urls)}); key saved in {path}")

    @cli.command()
    @per_command
    def logout(inv: Invocation) -> None:
        """Forget the stored token."""
        config = inv.config()
        path = config_file.save(config_file.load({**inv.environ, "ECHOFS_TOKEN": ""})
                                .with_login(None, config.username))
        inv.output.result({"logged_out": True, "config": str(path)}, "logged out")
