"""Client configuration: master URLs and a token, from a file or the environment.

The file is ``$ECHOFS_CONFIG_DIR/config.toml``, else ``$XDG_CONFIG_HOME/echofs/config.toml``,
else ``~/.config/echofs/config.toml``::

    urls = ["http://m1:8080", "http://m2:8080"]   # tried in order (several masters)
    token = "…"                                    # JWT from `echofs login`, or an API key
    username = "alice"

``ECHOFS_URL`` (comma-separated for several) and ``ECHOFS_TOKEN`` override the file. The
file holds a credential, so it is written mode 0600 in a 0700 folder, atomically (temp
file, fsync, rename, fsync the folder): a crash leaves the old file or the new one.
The environment is read by :func:`load` only, from the mapping it is given.
"""

from __future__ import annotations

import json
import os
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from common.errors import InvalidInput

__all__ = [
    "DEFAULT_URL",
    "ClientConfig",
    "atomic_write",
    "config_dir",
    "load",
    "parse_urls",
    "save",
]

DEFAULT_URL = "http://127.0.0.1:8080"
FILE_NAME = "config.toml"


@dataclass(frozen=True, slots=True)
class ClientConfig:
    urls: tuple[str, ...] = (DEFAULT_URL,)
    token: str | None = None
    username: str | None = None
    directory: Path | None = None  # where config.toml and the resume state live

    def with_login(self, token: str | None, username: str | None) -> ClientConfig:
        return replace(self, token=token, username=username)

    def __repr__(self) -> str:  # never show the token in a traceback or a log
        return (f"ClientConfig(urls={self.urls!r}, token={'***' if self.token else None}, "
                f"username={self.username!r}, directory={self.directory!r})")


def parse_urls(text: str) -> tuple[str, ...]:
    """``"http://a:8080, http://b:8080/"`` → both, without trailing slashes; InvalidInput
    for anything but http(s) URLs."""
    urls = tuple(u.strip().rstrip("/") for u in text.split(",") if u.strip())
    if not urls:
        raise InvalidInput("no master URL given")
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise InvalidInput(f"master URL must start with http:// or https://: {url!r}")
    return urls


def config_dir(environ: Mapping[str, str]) -> Path:
    if environ.get("ECHOFS_CONFIG_DIR"):
        return Path(environ["ECHOFS_CONFIG_DIR"])
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
    return Path(base).expanduser() / "echofs"


def load(environ: Mapping[str, str]) -> ClientConfig:
    """The file's settings with the environment's on top. A missing file is defaults;
    an unreadable or malformed one is InvalidInput naming it."""
    directory = config_dir(environ)
    path = directory / FILE_NAME
    stored: dict[str, object] = {}
    try:
        with path.open("rb") as f:
            stored = tomllib.load(f)
    except FileNotFoundError:
        pass
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from None
    raw_urls = stored.get("urls")
    urls = (parse_urls(",".join(str(u) for u in raw_urls))
            if isinstance(raw_urls, list) and raw_urls else (DEFAULT_URL,))
    token = stored.get("token") if isinstance(stored.get("token"), str) else None
    username = stored.get("username") if isinstance(stored.get("username"), str) else None
    if environ.get("ECHOFS_URL"):
        urls = parse_urls(environ["ECHOFS_URL"])
    if environ.get("ECHOFS_TOKEN"):
        token = environ["ECHOFS_TOKEN"]
    return ClientConfig(urls, token or None, username or None, directory)  # type: ignore[arg-type]


def _toml_string(value: str) -> str:
    # A JSON string (ASCII-only, escapes \" \\ \n \uXXXX) is a valid TOML basic string.
    return json.dumps(value, ensure_ascii=True)


def render(config: ClientConfig) -> str:
    lines = ["# echofs client settings (written by `echofs login`)",
             "urls = [" + ", ".join(_toml_string(u) for u in config.urls) + "]"]
    if config.token:
        lines.append(f"token = {_toml_string(config.token)}")
    if config.username:
        lines.append(f"username = {_toml_string(config.username)}")
    return "\n".join(lines) + "\n"


def atomic_write(path: Path, text: str, *, durable: bool = True) -> None:
    """Replace ``path`` with ``text``: mode 0600, never half-written, folder 0700.
    ``durable=False`` skips the fsyncs, for records that are only a hint."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Unique per process and thread: tree transfers save state from several threads.
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.chmod(temp, 0o600)  # O_CREAT's mode is masked by the umask; be exact
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if not durable:
        return
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save(config: ClientConfig) -> Path:
    """Write ``config`` (not the environment's overrides: the caller decides) to its file."""
    if config.directory is None:
        raise InvalidInput("the configuration has no folder to be saved in")
    path = config.directory / FILE_NAME
    atomic_write(path, render(config))
    return path


__all__ += ["render"]
