"""The shared HTTP error edge: what each kind of failure becomes, driven through the
middleware with requests built in memory (no server, no network)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from common.errors import (
    EchoError,
    InvalidInput,
    NotFound,
    RateLimited,
    Unavailable,
)
from common.http_edge import ENVELOPE_KEYS, json_errors


def _raising(exc: BaseException) -> Any:
    async def handler(_request: web.Request) -> web.StreamResponse:
        raise exc

    return handler


async def _answer(exc: BaseException, **hooks: Any) -> tuple[web.Response, dict[str, Any]]:
    request = make_mocked_request("GET", "/somewhere")
    response = await json_errors(**hooks)(request, _raising(exc))
    assert isinstance(response, web.Response) and response.text is not None
    assert response.content_type == "application/json"
    return response, json.loads(response.text)


async def test_a_domain_error_keeps_its_status_code_and_message_with_data_null() -> None:
    response, body = await _answer(NotFound("no such file"))
    assert response.status == 404
    assert body == {"success": False, "message": "no such file", "code": "not_found",
                    "data": None}
    assert set(body) == ENVELOPE_KEYS


async def test_details_are_added_only_when_the_error_has_some() -> None:
    error = Unavailable("2 of 3 needed", details={"needed": 2, "acked": ["w1"]})
    response, body = await _answer(error)
    assert response.status == 503
    assert body["details"] == {"needed": 2, "acked": ["w1"]}
    assert set(body) == ENVELOPE_KEYS | {"details"}


async def test_rate_limited_says_when_to_retry() -> None:
    response, body = await _answer(RateLimited("slow down", retry_after_s=7))
    assert (response.status, body["code"]) == (429, "rate_limited")
    assert response.headers["Retry-After"] == "7"


@pytest.mark.parametrize(("exc", "status", "code"), [
    (web.HTTPNotFound(), 404, "not_found"),
    (web.HTTPMethodNotAllowed("POST", ["GET", "HEAD"]), 405, "method_not_allowed"),
    (web.HTTPRequestEntityTooLarge(max_size=10, actual_size=20), 413, "payload_too_large"),
    (web.HTTPConflict(), 409, "http_error"),
])
async def test_aiohttp_errors_answer_in_the_same_envelope(
    exc: web.HTTPException, status: int, code: str
) -> None:
    response, body = await _answer(exc)
    assert (response.status, body["code"]) == (status, code)
    assert set(body) == ENVELOPE_KEYS and body["message"]
    if status == 405:
        assert set(response.headers["Allow"].split(",")) == {"GET", "HEAD"}


async def test_a_redirect_is_not_an_error() -> None:
    with pytest.raises(web.HTTPFound):
        await _answer(web.HTTPFound("/elsewhere"))


async def test_a_bug_is_a_logged_500_that_reveals_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="common.http_edge"):
        response, body = await _answer(RuntimeError("password=hunter2 in /srv/secret.py"))
    assert (response.status, body["code"]) == (500, "internal")
    assert "hunter2" not in response.text and "secret" not in response.text
    assert set(body) == ENVELOPE_KEYS
    [record] = [r for r in caplog.records if r.name == "common.http_edge"]
    assert record.exc_info is not None and "hunter2" in str(record.exc_info[1])


async def test_a_service_may_leave_an_error_to_an_outer_middleware() -> None:
    with pytest.raises(ConnectionResetError):
        await _answer(ConnectionResetError(), reraise=lambda _r, e: isinstance(e, OSError))


async def test_a_service_may_translate_a_foreign_error_into_a_domain_error() -> None:
    def translate(exc: Exception) -> EchoError | None:
        return InvalidInput(f"malformed: {exc}") if isinstance(exc, ValueError) else None

    response, body = await _answer(ValueError("bad part header"), translate=translate)
    assert (response.status, body["code"]) == (400, "invalid_input")
    assert body["message"] == "malformed: bad part header"
    response, body = await _answer(KeyError("x"), translate=translate)
    assert (response.status, body["code"]) == (500, "internal")
