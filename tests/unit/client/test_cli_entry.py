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


def test_a_bad_master_url_is_invalid_input_with_its_exit_code(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    environ = {"ECHOFS_CONFIG_DIR": str(tmp_path), "ECHOFS_TOKEN": "t"}
    assert main(["--url", "ftp://x", "ls"], environ=environ) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "[invalid_input]" in err


def test_not_logged_in_is_exit_4_and_a_json_line_with_json(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    assert main(["ls", "--json"], environ={"ECHOFS_CONFIG_DIR": str(tmp_path)}) == 4
    captured = capsys.readouterr()
    assert captured.out == ""
    assert json.loads(captured.err) == {
        "success": False, "code": "unauthenticated",
        "message": "not logged in: run `echofs login` or set ECHOFS_TOKEN"}
