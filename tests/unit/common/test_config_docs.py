"""The README's configuration table and the settings classes name the same variables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from common.config import MasterSettings, WorkerSettings, env_var_names

README = Path(__file__).resolve().parents[3] / "README.md"


def _readme_variables() -> set[str]:
    names = set()
    for line in README.read_text().splitlines():
        match = re.match(r"^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|", line)
        if match:
            names.add(match.group(1))
    return names


def test_every_readme_variable_exists_in_the_settings() -> None:
    documented = _readme_variables()
    assert documented, "README has no configuration table"
    assert documented - env_var_names() == set()


def test_every_setting_is_documented_in_the_readme() -> None:
    assert env_var_names() - _readme_variables() == set()


def test_settings_read_the_environment_and_are_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHUNK_SIZE", "1048576")
    monkeypatch.setenv("REPLICATION_FACTOR", "5")
    settings = MasterSettings()
    assert (settings.chunk_size, settings.replication_factor) == (1048576, 5)
    with pytest.raises(ValidationError):
        settings.chunk_size = 1  # type: ignore[misc]


def test_invalid_settings_are_rejected_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_PORT", "70000")
    with pytest.raises(ValidationError):
        WorkerSettings()
