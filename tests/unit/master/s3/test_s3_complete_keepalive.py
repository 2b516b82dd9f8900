"""A slow CompleteMultipartUpload answers 200 at once and keeps the connection alive with
spaces; its result, or an <Error> document, follows in the same body."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from unittest import mock

import pytest
from aiohttp.test_utils import make_mocked_request

from common.errors import InvalidPart
from master.s3 import handlers_multipart
from master.s3.addressing import Target
from master.s3.context import S3Call
from master.s3.sigv4 import Authenticated
from master.s3.xml import parse_xml
from master.services.auth import Principal
from master.services.objects import StoredObject

BODY = (b'<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"e"</ETag></Part>'
        b"</CompleteMultipartUpload>")


class Writer:
    def __init__(self) -> None:
        self.sent = bytearray()
        self.buffer_size = 0
        self.output_size = 0

    async def write(self, data: Any, *args: Any, **kwargs: Any) -> None:
        self.sent += bytes(data)

    async def write_headers(self, *args: Any) -> None:
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        self.sent += data

    async def drain(self) -> None:
        return None

    def enable_compression(self, *args: Any) -> None: ...

    def enable_chunking(self) -> None: ...

    def send_headers(self, *args: Any) -> None: ...


class Multipart:
    def __init__(self, outcome: Any) -> None:
        self._outcome = outcome

    async def session(self, *args: Any) -> Any:
        return mock.Mock(id=uuid.uuid4())

    async def plan(self, *args: Any) -> Any:
        return mock.Mock(versioned=False)

    async def finish(self, plan: Any) -> StoredObject:
        await asyncio.sleep(0.05)
        if isinstance(self._outcome, Exception):
            raise self._outcome
        return self._outcome


async def _complete(outcome: Any) -> tuple[int, bytes]:
    writer = Writer()
    request = make_mocked_request("POST", "/b/k?uploadId=" + uuid.uuid4().hex, writer=writer)
    call = S3Call(request, mock.Mock(), Target("b", "k"), "CompleteMultipartUpload", "rid",
                  auth=Authenticated(Principal(1, "u", False), "EK", "UNSIGNED-PAYLOAD", None))
    call.services.gateway.multipart = Multipart(outcome)

    async def xml() -> Any:
        return parse_xml(BODY)

    with mock.patch.object(handlers_multipart, "KEEPALIVE_S", 0.01), \
            mock.patch.object(S3Call, "read_xml", lambda self: xml()):
        response = await handlers_multipart.complete_multipart_upload(call)
    return response.status, bytes(writer.sent)


async def test_a_slow_completion_sends_spaces_then_its_result() -> None:
    status, sent = await _complete(StoredObject("abc-1", 10, None, 0.0))
    assert status == 200
    text = sent.decode()
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n ')
    assert text.rstrip().endswith("</CompleteMultipartUploadResult>")
    assert '<ETag>"abc-1"</ETag>' in text


@pytest.mark.parametrize("error", [InvalidPart("part 1 changed while completing")])
async def test_a_slow_completion_that_fails_sends_an_error_document(error: Exception) -> None:
    status, sent = await _complete(error)
    assert status == 200
    assert b"<Error><Code>InvalidPart</Code>" in sent
