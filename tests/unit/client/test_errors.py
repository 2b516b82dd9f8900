"""Error answers become common.errors' classes; each family has its own exit code."""

from __future__ import annotations

import json

import pytest

import common.errors as server_errors
from client.errors import ConnectionFailed, ProtocolError, ServerError, error_from_response
from client.exit_codes import EXIT_BY_CLASS, exit_code_of
from common.errors import (
    ChecksumMismatch,
    Conflict,
    EchoError,
    NotFound,
    QuorumNotReached,
    RateLimited,
    Unavailable,
    http_status_of,
)


def _body(code: str, message: str = "m", **extra: object) -> bytes:
    return json.dumps({"success": False, "message": message, "code": code, "data": None,
                       **extra}).encode()


def _server_classes() -> list[type[EchoError]]:
    return [getattr(server_errors, name) for name in server_errors.__all__
            if isinstance(getattr(server_errors, name), type)
            and issubclass(getattr(server_errors, name), EchoError)]


@pytest.mark.parametrize("cls", _server_classes(), ids=lambda c: c.code)
def test_every_server_code_comes_back_as_its_own_class(cls: type[EchoError]) -> None:
    status = 500 if cls is EchoError else http_status_of(cls.__new__(cls))
    error = error_from_response(status, _body(cls.code, "why"), {})
    assert type(error) is cls and error.code == cls.code and error.message == "why"


def test_rate_limited_carries_retry_after_from_the_header() -> None:
    error = error_from_response(429, _body("rate_limited"), {"retry-after": "17"})
    assert isinstance(error, RateLimited) and error.retry_after_s == 17


def test_quorum_failure_keeps_the_servers_message_and_details() -> None:
    body = _body("quorum_not_reached", "needed 2, 1 succeeded (w1)",
                 details={"needed": 2, "succeeded": ["w1"]})
    error = error_from_response(503, body, {})
    assert isinstance(error, QuorumNotReached) and isinstance(error, Unavailable)
    assert error.message == "needed 2, 1 succeeded (w1)" and error.details["needed"] == 2


def test_an_unknown_code_keeps_its_name_in_the_family_of_its_status() -> None:
    error = error_from_response(409, _body("bucket_exists"), {})
    assert isinstance(error, Conflict) and error.code == "bucket_exists"


def test_an_answer_that_is_not_the_envelope_is_a_protocol_or_server_error() -> None:
    assert isinstance(error_from_response(502, b"<html>bad gateway</html>", {}), ServerError)
    assert isinstance(error_from_response(404, b"nope", {}), NotFound)
    assert isinstance(error_from_response(418, b"teapot", {}), ProtocolError)


def test_exit_codes_distinguish_the_families() -> None:
    samples = {NotFound("x"): 6, Conflict("x"): 7, ChecksumMismatch("x"): 13,
               ConnectionFailed("x"): 12, ServerError("x"): 1,
               error_from_response(503, _body("quorum_not_reached"), {}): 12,
               error_from_response(401, _body("bad_credentials"), {}): 4}
    assert {exit_code_of(e) for e in samples} == set(samples.values())
    for error, code in samples.items():
        assert exit_code_of(error) == code
    codes = [c for cls, c in EXIT_BY_CLASS.items() if cls not in (ServerError, ProtocolError)]
    assert 0 not in codes and 2 not in codes
