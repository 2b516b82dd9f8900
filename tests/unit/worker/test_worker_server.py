"""What a worker tells the master to dial."""

from __future__ import annotations

import socket

from worker.server import advertise_address, advertised_metrics_url


def test_a_specific_bind_address_is_advertised_as_is():
    assert advertise_address("10.0.0.5", 9001) == "10.0.0.5:9001"


def test_an_ipv6_bind_address_is_bracketed_once():
    assert advertise_address("fd00::2", 9001) == "[fd00::2]:9001"
    assert advertise_address("[fd00::2]", 9001) == "[fd00::2]:9001"
    assert advertised_metrics_url(advertise_address("fd00::2", 9001), 9101) == (
        "http://[fd00::2]:9101/metrics")


def test_a_wildcard_bind_advertises_the_host_name():
    assert advertise_address("0.0.0.0", 9001) == f"{socket.gethostname()}:9001"


def test_the_metrics_url_names_the_advertised_host_not_loopback():
    assert advertised_metrics_url("198.18.0.11:9001", 9101) == "http://198.18.0.11:9101/metrics"
    assert advertised_metrics_url("worker-1:9000", 9100) == "http://worker-1:9100/metrics"
    assert advertised_metrics_url("[fd00::2]:9000", 9100) == "http://[fd00::2]:9100/metrics"
