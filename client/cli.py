"""The ``echofs`` command. The CLI proper (login, ls, put, get, ...) is a later issue;
until then it answers ``--version`` and ``--help`` and says so, instead of crashing."""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import PackageNotFoundError, version

__all__ = ["main"]


def _version() -> str:
    try:
        return version("echofs")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="echofs",
        description="EchoFS command-line client. Its commands (login, ls, put, get, rm, "
                    "...) are not built yet; use the HTTP API (see the README) meanwhile.",
    )
    parser.add_argument("--version", action="version", version=f"echofs {_version()}")
    parser.add_argument("command", nargs="?", help="not available yet")
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    sys.stderr.write(f"echofs: '{args.command}' is not available yet; see 'echofs --help'\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
