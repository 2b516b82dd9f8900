"""Client settings: file, environment on top, atomic 0600 writes, no token in a repr."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from client.config import ClientConfig, config_dir, load, parse_urls, save
from common.errors import InvalidInput


def test_without_file_or_environment_the_defaults_apply(tmp_path: Path) -> None:
    config = load({"ECHOFS_CONFIG_DIR": str(tmp_path)})
    assert config.urls == ("http://127.0.0.1:8080",) and config.token is None
    assert config.directory == tmp_path


def test_config_folder_follows_xdg_then_home() -> None:
    assert config_dir({"XDG_CONFIG_HOME": "/x"}) == Path("/x/echofs")
    assert config_dir({"HOME": "/home/a"}) == Path("/home/a/.config/echofs")
    assert config_dir({"ECHOFS_CONFIG_DIR": "/c", "XDG_CONFIG_HOME": "/x"}) == Path("/c")


def test_saved_settings_round_trip_with_mode_0600(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    config = ClientConfig(("http://a:8080", "http://b:8081"), 'tok"en\\x', "ålice", directory)
    path = save(config)
    assert path.stat().st_mode & 0o777 == 0o600
    assert directory.stat().st_mode & 0o777 == 0o700
    assert load({"ECHOFS_CONFIG_DIR": str(directory)}) == config
    assert [p.name for p in directory.iterdir()] == ["config.toml"]  # no temp file left


def test_saving_again_replaces_the_file_even_under_a_loose_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        save(ClientConfig(("http://a:1",), "one", None, tmp_path))
        path = save(ClientConfig(("http://a:1",), None, None, tmp_path))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load({"ECHOFS_CONFIG_DIR": str(tmp_path)}).token is None


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    save(ClientConfig(("http://file:1",), "file-token", "bob", tmp_path))
    config = load({"ECHOFS_CONFIG_DIR": str(tmp_path), "ECHOFS_URL": "http://m1:1, http://m2:2/",
                   "ECHOFS_TOKEN": "env-token"})
    assert config.urls == ("http://m1:1", "http://m2:2")
    assert config.token == "env-token" and config.username == "bob"


def test_repr_never_shows_the_token() -> None:
    assert "s3cr3t" not in repr(ClientConfig(token="s3cr3t"))


@pytest.mark.parametrize("text", ["", " , ", "ftp://x", "m1:8080"])
def test_urls_must_be_http(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_urls(text)


def test_a_malformed_file_is_refused_with_its_name(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("urls = [", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"config\.toml"):
        load({"ECHOFS_CONFIG_DIR": str(tmp_path)})
