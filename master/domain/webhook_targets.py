"""Which URLs a webhook may target: ``WEBHOOK_ALLOWED_HOSTS``, as a pure function.

The master POSTs to whatever a user registers, from inside the cluster's network; an
allow-list of hosts keeps that from reaching internal services (SSRF). Entries are
``host`` (any port), ``host:port``, ``[v6]:port`` or ``*.domain`` (any host below
``domain``, not ``domain`` itself); hosts compare case-insensitively, by name: the
operator lists names whose addresses they trust. Registration checks it (400
``target_not_allowed``) and so does every delivery, so removing a host from the list
stops deliveries to it. Redirects are never followed.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["AllowedHosts", "target_host"]


def target_host(url: str) -> tuple[str, int] | None:
    """(host, port) of an http(s) URL without credentials, else None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    return parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True, slots=True)
class AllowedHosts:
    entries: tuple[tuple[str, int | None], ...]

    @classmethod
    def parse(cls, raw: str) -> AllowedHosts:
        entries: list[tuple[str, int | None]] = []
        for item in (part.strip().lower() for part in raw.split(",")):
            if not item:
                continue
            host, port = item, None
            if item.startswith("["):
                host, _, rest = item[1:].partition("]")
                port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
            elif item.count(":") == 1:
                name, _, digits = item.partition(":")
                if digits.isdigit():
                    host, port = name, int(digits)
            entries.append((host, port))
        return cls(tuple(entries))

    def allows(self, url: str) -> bool:
        target = target_host(url)
        if target is None:
            return False
        host, port = target
        for pattern, wanted_port in self.entries:
            if wanted_port is not None and wanted_port != port:
                continue
            if pattern.startswith("*."):
                if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                    return True
            elif host == pattern:
                return True
        return False
