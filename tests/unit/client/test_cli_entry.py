"""The ``echofs`` console script exists and answers instead of crashing."""

from __future__ import annotations

import subprocess
import sys

from client.cli import main


def test_help_and_version_answer_and_bad_usage_fails_with_one_line(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main([], environ={}) == 0
    assert "EchoFS command-line client" in capsys.readouterr().out
    assert main(["put"], environ={}) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Missing argument 'LOCAL'" in err
    assert main(["frobnicate"], environ={}) == 2
    assert "No such command" in capsys.readouterr().err


def test_the_module_runs_as_a_program() -> None:
    result = subprocess.run([sys.executable, "-m", "client.cli", "--version"],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0 and result.stdout.startswith("echofs ")
