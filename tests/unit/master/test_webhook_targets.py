"""WEBHOOK_ALLOWED_HOSTS: which URLs a webhook may target (pure)."""

from __future__ import annotations

import pytest

from master.domain.webhook_targets import AllowedHosts, target_host


@pytest.mark.parametrize(("url", "expected"), [
    ("http://Example.COM/x", ("example.com", 80)),
    ("https://hooks.example.com:8443/x?y=1", ("hooks.example.com", 8443)),
    ("https://[::1]/x", ("::1", 443)),
    ("ftp://example.com/", None),
    ("http://user:pw@example.com/", None),
    ("http://example.com:99999/", None),
    ("http:///nohost", None),
    ("not a url", None),
])
def test_target_host_accepts_only_http_urls_without_credentials(
    url: str, expected: tuple[str, int] | None,
) -> None:
    assert target_host(url) == expected


def test_hosts_ports_and_wildcards() -> None:
    allowed = AllowedHosts.parse(" 127.0.0.1, hooks.example.com:8443 ,*.corp.example, [::1]:9000,")
    assert allowed.allows("http://127.0.0.1:1234/hook")
    assert allowed.allows("https://HOOKS.example.com:8443/x")
    assert not allowed.allows("https://hooks.example.com/x")  # port 443, not 8443
    assert allowed.allows("https://a.b.corp.example/x")
    assert not allowed.allows("https://corp.example/x")  # the wildcard is below it only
    assert not allowed.allows("https://evilcorp.example/x")
    assert allowed.allows("http://[::1]:9000/x")
    assert not allowed.allows("http://[::1]:9001/x")
    assert not allowed.allows("http://127.0.0.2/hook")
    assert not allowed.allows("http://user:pw@127.0.0.1/hook")


def test_an_empty_list_allows_nothing() -> None:
    assert not AllowedHosts.parse("").allows("http://127.0.0.1/x")
