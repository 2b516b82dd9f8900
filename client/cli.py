"""The ``echofs`` command (DESIGN §14) over the sync SDK: this module is the group, its
global options and the one place outcomes become exit codes; the commands live in
``client.commands``, one module per command group.

Why click (not typer): click is explicit about options and their parsing, has a test
runner, and is already pinned in this project's environment; typer would add itself and
shellingham for type-hint sugar over the same click underneath.

Every command takes ``--json`` (here or before the command). A failure is one line on
stderr and an exit code from ``client.exit_codes``; a traceback only with ``--debug``.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar

import click

from client import config as config_file
from client.cli_output import Output
from client.config import ClientConfig
from client.exit_codes import INTERRUPTED, LOCAL_IO, UNEXPECTED, USAGE, exit_code_of
from client.sync_client import Client
from common.errors import EchoError

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])


def _version() -> str:
    try:
        return version("echofs")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


@dataclass
class Invocation:
    """What every command needs: the environment (read once, in :func:`main`), the
    output settings, and the master URLs given on the command line."""

    environ: Mapping[str, str]
    output: Output
    urls: str | None = None

    def config(self) -> ClientConfig:
        loaded = config_file.load(self.environ)
        if self.urls:
            loaded = ClientConfig(config_file.parse_urls(self.urls), loaded.token,
                                  loaded.username, loaded.directory)
        return loaded

    def client(self) -> Client:
        return Client(self.config())


def _per_command_options(func: F) -> F:
    """``--json`` and ``-q`` after the command name too (``echofs ls --json``)."""
    @click.option("--json", "as_json", is_flag=True, default=False,
                  help="Print the result as JSON (errors as one JSON line on stderr).")
    @click.option("--quiet", "-q", is_flag=True, default=False,
                  help="No progress bars or notes.")
    @click.pass_obj
    @functools.wraps(func)
    def wrapper(inv: Invocation, *args: Any, as_json: bool, quiet: bool, **kwargs: Any) -> Any:
        if as_json:
            inv.output.as_json = True
        if quiet:
            inv.output.quiet = True
        return func(inv, *args, **kwargs)
    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", prog_name="echofs",
                      message="%(prog)s %(version)s")
@click.option("--url", "urls", metavar="URL[,URL...]",
              help="Master URL(s), tried in order. Default: the config file, ECHOFS_URL.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or notes.")
@click.option("--debug", is_flag=True, help="Tracebacks and request logs on stderr.")
@click.pass_context
def cli(ctx: click.Context, urls: str | None, as_json: bool, quiet: bool, debug: bool) -> None:
    """EchoFS command-line client. Remote paths are bucket/path (see the README)."""
    inv: Invocation = ctx.obj
    inv.urls = urls
    inv.output.as_json = as_json
    inv.output.quiet = quiet
    inv.output.debug = debug
    if debug:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)


from client.commands import register_all  # noqa: E402  (registers the commands on ``cli``)

register_all(cli, _per_command_options)


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the command; the exit code (``client.exit_codes``)."""
    output = Output()
    inv = Invocation(dict(os.environ if environ is None else environ), output)
    # The SDK's log lines reach stderr only with --debug (which adds a handler); without
    # a handler of its own, logging's last resort would print warnings between the
    # command's one-line error or JSON.
    sdk_log = logging.getLogger("client")
    if not sdk_log.handlers:
        sdk_log.addHandler(logging.NullHandler())
    args = sys.argv[1:] if argv is None else argv
    if not args:
        args = ["--help"]  # bare `echofs`: the help, exit 0
    try:
        # Not cli.main(): it prints its own newline on Ctrl-C and turns it into Abort;
        # parsing and invoking directly leaves every outcome to the lines below.
        with cli.make_context("echofs", list(args), obj=inv) as ctx:
            cli.invoke(ctx)
    except click.exceptions.Exit as exc:  # --help, --version
        return int(exc.exit_code)
    except click.Abort:  # Ctrl-C or end of input at a prompt
        output.failure("interrupted", "interrupted")
        return INTERRUPTED
    except click.ClickException as exc:
        output.failure("usage", f"{exc.format_message()} (see echofs --help)")
        return USAGE
    except EchoError as exc:
        if output.debug:
            traceback.print_exc()
        output.failure(exc.code, exc.message)
        return exit_code_of(exc)
    except KeyboardInterrupt:
        output.failure("interrupted", "interrupted; run the same command again to resume")
        return INTERRUPTED
    except OSError as exc:
        if output.debug:
            traceback.print_exc()
        output.failure("local_io", f"{exc.strerror or exc}: {exc.filename or ''}".strip(": "))
        return LOCAL_IO
    except Exception as exc:  # a bug: say so in one line, the traceback with --debug
        if output.debug:
            traceback.print_exc()
        output.failure("internal", f"unexpected {type(exc).__name__}: {exc} "
                                   "(run with --debug for the traceback)")
        return UNEXPECTED
    return 0


__all__ += ["Invocation", "cli"]

if __name__ == "__main__":
    sys.exit(main())
