"""What a worker tells the master to dial."""

from __future__ import annotations

import socket

from worker.server import advertise_address


def test_a_specific_bind_address_is_advertised_as_is():
    assert advertise_address("10.0.0.5", 9001) == "10.0.0.5:9001"


def test_a_wildcard_bind_advertises_the_host_name():
    assert advertise_address("0.0.0.0", 9001) == f"{socket.gethostname()}:9001"
