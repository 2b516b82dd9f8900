"""AWS Signature V4 verification: header auth, presigned URLs, streaming chunk signatures.

The expected signature is computed by botocore's own signer (``S3SigV4Auth`` /
``S3SigV4QueryAuth``: canonical request, string to sign, signing key), fed with the
request as received: the headers the client says it signed, the decoded query
parameters (botocore re-encodes them canonically), the path as sent (S3 does not
normalize it; a path sent with looser encoding than the canonical one is also tried
canonically re-encoded) and the client's timestamp and region. Comparisons are
constant-time (``hmac.compare_digest``). A request is refused when its timestamp is
more than ``max_skew_s`` away from now, a presigned URL when it has expired or is not
valid yet.

For ``aws-chunked`` bodies the seed signature is the request's; each chunk's signature
chains from the previous one (``ChunkSigner``), its string to sign built as the AWS
documentation says and signed with botocore's signing-key derivation.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Protocol

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from master.s3.errors import S3Error
from master.services.auth import Principal

__all__ = [
    "STREAMING_SIGNED",
    "STREAMING_SIGNED_TRAILER",
    "STREAMING_UNSIGNED_TRAILER",
    "UNSIGNED_PAYLOAD",
    "AccessKeys",
    "Authenticated",
    "ChunkSigner",
    "RequestParts",
    "ResolvedKey",
    "authenticate",
]

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
_ALGORITHM = "AWS4-HMAC-SHA256"
_TIMESTAMP = "%Y%m%dT%H%M%SZ"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_MAX_EXPIRES_S = 7 * 24 * 3600
_TIME_RE = re.compile(r"^\d{8}T\d{6}Z$")
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+)\s*,\s*Signature=(?P<signature>[0-9a-fA-F]+)\s*$"
)


class ResolvedKey(Protocol):
    """An access key the gateway knows: its secret and whom it acts for."""

    @property
    def secret(self) -> str: ...

    @property
    def principal(self) -> Principal: ...


class AccessKeys(Protocol):
    """The gateway's seam to the keys of DESIGN §12 (``key_id`` + ``secret``)."""

    async def resolve(self, key_id: str) -> ResolvedKey | None:
        """The key's secret and principal; None for an unknown, revoked or expired key."""
        ...


@dataclass(frozen=True, slots=True)
class RequestParts:
    """What signing covers, taken from the HTTP request by the edge."""

    method: str
    host: str
    raw_path: str  # as sent, percent-encoded
    query: Sequence[tuple[str, str]]  # decoded, in order, blank values kept
    headers: Mapping[str, Sequence[str]]  # lowercase name -> values


@dataclass(frozen=True, slots=True)
class _Scope:
    key_id: str
    date: str
    region: str
    service: str


class ChunkSigner:
    """Expected signatures of an ``aws-chunked`` body's chunks, each chained from the
    previous one, starting at the request's (seed) signature."""

    def __init__(self, signer: S3SigV4Auth, request: AWSRequest, seed: str) -> None:
        self._signer = signer
        self._request = request
        self._timestamp = request.context["timestamp"]
        self._scope = signer.credential_scope(request)
        self.previous = seed

    def verify(self, given: str, chunk_sha256: str) -> bool:
        """Whether ``given`` signs a chunk hashing to ``chunk_sha256``; advances."""
        string_to_sign = "\n".join([
            "AWS4-HMAC-SHA256-PAYLOAD", self._timestamp, self._scope, self.previous,
            _EMPTY_SHA256, chunk_sha256,
        ])
        expected = self._signer.signature(string_to_sign, self._request)
        if not hmac.compare_digest(expected.encode(), given.lower().encode()):
            return False
        self.previous = expected
        return True


@dataclass(frozen=True, slots=True)
class Authenticated:
    principal: Principal
    key_id: str
    payload_hash: str  # what x-amz-content-sha256 declared (presigned: UNSIGNED-PAYLOAD)
    chunks: ChunkSigner | None  # for STREAMING-AWS4-HMAC-SHA256-PAYLOAD bodies


def _first(headers: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


def _parse_scope(credential: str) -> _Scope:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not parts[0]:
        raise S3Error("AuthorizationHeaderMalformed",
                      "the credential must be <key>/<date>/<region>/s3/aws4_request")
    if parts[3] != "s3":
        raise S3Error("AuthorizationHeaderMalformed", "the credential's service must be s3")
    return _Scope(parts[0], parts[1], parts[2], parts[3])


def _parse_time(timestamp: str) -> datetime:
    """``YYYYMMDDTHHMMSSZ`` (by hand: ``strptime`` cost a quarter of a verification)."""
    if _TIME_RE.fullmatch(timestamp) is None:
        raise S3Error("AccessDenied", "X-Amz-Date must be YYYYMMDD'T'HHMMSS'Z'", 403)
    try:
        return datetime(int(timestamp[0:4]), int(timestamp[4:6]), int(timestamp[6:8]),
                        int(timestamp[9:11]), int(timestamp[11:13]), int(timestamp[13:15]),
                        tzinfo=UTC)
    except ValueError:
        raise S3Error("AccessDenied", "X-Amz-Date is not a valid time", 403) from None


def _canonical_paths(raw_path: str) -> Iterator[str]:
    """The path as sent, then (if different) strictly re-encoded per segment."""
    yield raw_path
    strict = "/".join(urllib.parse.quote(urllib.parse.unquote(segment), safe="-_.~")
                      for segment in raw_path.split("/"))
    if strict != raw_path:
        yield strict


def _request(parts: RequestParts, path: str, signed: list[str], timestamp: str,
             query: Sequence[tuple[str, str]], payload_header: bool) -> AWSRequest:
    request = AWSRequest(method=parts.method, url=f"http://{parts.host}{path}")
    for name in signed:
        for value in parts.headers.get(name, ()):
            request.headers[name] = value
    payload = _first(parts.headers, "x-amz-content-sha256")
    if payload_header and payload is not None and "x-amz-content-sha256" not in signed:
        request.headers["x-amz-content-sha256"] = payload
    request.params = list(query)
    request.context["timestamp"] = timestamp
    return request


class _HeaderSigner(S3SigV4Auth):
    """botocore's S3 signer, signing exactly the headers the request names."""

    def __init__(self, credentials: Credentials, region: str, signed: list[str]) -> None:
        super().__init__(credentials, "s3", region)
        self._signed = signed

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        chosen = HTTPHeaders()
        for name in self._signed:
            for value in request.headers.get_all(name) or ():
                chosen[name] = value
        return chosen


class _QuerySigner(S3SigV4QueryAuth):
    def __init__(self, credentials: Credentials, region: str, signed: list[str]) -> None:
        super().__init__(credentials, "s3", region)
        self._signed = signed

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        chosen = HTTPHeaders()
        for name in self._signed:
            for value in request.headers.get_all(name) or ():
                chosen[name] = value
        return chosen


def _matches(signer: S3SigV4Auth, parts: RequestParts, signed: list[str], timestamp: str,
             query: Sequence[tuple[str, str]], given: str, payload_header: bool
             ) -> AWSRequest | None:
    for path in _canonical_paths(parts.raw_path):
        request = _request(parts, path, signed, timestamp, query, payload_header)
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if hmac.compare_digest(expected.encode(), given.lower().encode()):
            return request
    return None


def is_signed(parts: RequestParts) -> bool:
    """Whether the request carries SigV4 credentials (header or query)."""
    return _first(parts.headers, "authorization") is not None or any(
        name == "X-Amz-Algorithm" for name, _ in parts.query)


async def authenticate(
    parts: RequestParts, keys: AccessKeys, now: datetime, max_skew_s: float
) -> Authenticated:
    """The caller, or S3Error (AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch,
    RequestTimeTooSkewed, AuthorizationHeaderMalformed, ...)."""
    authorization = _first(parts.headers, "authorization")
    if authorization is not None:
        return await _header_auth(parts, authorization, keys, now, max_skew_s)
    if any(name == "X-Amz-Algorithm" for name, _ in parts.query):
        return await _query_auth(parts, keys, now, max_skew_s)
    raise S3Error("AccessDenied", "anonymous access is not allowed; sign the request", 403)


async def _resolve(keys: AccessKeys, key_id: str) -> ResolvedKey:
    found = await keys.resolve(key_id)
    if found is None:
        raise S3Error("InvalidAccessKeyId",
                      "the access key id does not exist in our records", 403)
    return found


def _signed_headers(raw: str) -> list[str]:
    names = [name.strip().lower() for name in raw.split(";") if name.strip()]
    if "host" not in names:
        raise S3Error("AuthorizationHeaderMalformed", "the signed headers must include host")
    return names


async def _header_auth(
    parts: RequestParts, authorization: str, keys: AccessKeys, now: datetime,
    max_skew_s: float,
) -> Authenticated:
    if authorization.startswith("AWS "):
        raise S3Error("InvalidRequest", "signature version 2 is not supported; use SigV4")
    match = _AUTH_RE.match(authorization.strip())
    if match is None:
        raise S3Error("AuthorizationHeaderMalformed",
                      "Authorization must be AWS4-HMAC-SHA256 Credential=..., "
                      "SignedHeaders=..., Signature=...")
    scope = _parse_scope(match["credential"])
    signed = _signed_headers(match["signed"])
    timestamp = _first(parts.headers, "x-amz-date")
    if timestamp is None:
        date_header = _first(parts.headers, "date")
        if date_header is None:
            raise S3Error("AccessDenied", "a signed request needs X-Amz-Date or Date", 403)
        try:
            timestamp = parsedate_to_datetime(date_header).astimezone(
                UTC).strftime(_TIMESTAMP)
        except (TypeError, ValueError):
            raise S3Error("AccessDenied", "the Date header does not parse", 403) from None
    moment = _parse_time(timestamp)
    if abs((now - moment).total_seconds()) > max_skew_s:
        raise S3Error("RequestTimeTooSkewed",
                      "the difference between the request time and the server's time is"
                      " too large", 403)
    if scope.date != timestamp[:8]:
        raise S3Error("AuthorizationHeaderMalformed",
                      "the credential's date is not the request's date")
    payload = _first(parts.headers, "x-amz-content-sha256")
    if payload is None:
        raise S3Error("InvalidRequest",
                      "Missing required header for this request: x-amz-content-sha256")
    key = await _resolve(keys, scope.key_id)
    signer = _HeaderSigner(Credentials(scope.key_id, key.secret), scope.region, signed)
    request = _matches(signer, parts, signed, timestamp, parts.query, match["signature"],
                       payload_header=True)
    if request is None:
        raise S3Error("SignatureDoesNotMatch",
                      "the request signature we calculated does not match the signature"
                      " you provided; check your key and signing method", 403)
    chunks = None
    if payload in {STREAMING_SIGNED, STREAMING_SIGNED_TRAILER}:
        chunks = ChunkSigner(signer, request, match["signature"].lower())
    return Authenticated(key.principal, scope.key_id, payload, chunks)


async def _query_auth(
    parts: RequestParts, keys: AccessKeys, now: datetime, max_skew_s: float
) -> Authenticated:
    params = dict(parts.query)
    if params.get("X-Amz-Algorithm") != _ALGORITHM:
        raise S3Error("AuthorizationQueryParametersError",
                      "X-Amz-Algorithm must be AWS4-HMAC-SHA256")
    missing = [n for n in ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                           "X-Amz-SignedHeaders", "X-Amz-Signature") if n not in params]
    if missing:
        raise S3Error("AuthorizationQueryParametersError",
                      f"a presigned URL needs {', '.join(missing)}")
    scope = _parse_scope(params["X-Amz-Credential"])
    signed = _signed_headers(params["X-Amz-SignedHeaders"])
    timestamp = params["X-Amz-Date"]
    moment = _parse_time(timestamp)
    try:
        expires_s = int(params["X-Amz-Expires"])
    except ValueError:
        raise S3Error("AuthorizationQueryParametersError",
                      "X-Amz-Expires must be a number of seconds") from None
    if not 0 < expires_s <= _MAX_EXPIRES_S:
        raise S3Error("AuthorizationQueryParametersError",
                      f"X-Amz-Expires must be between 1 and {_MAX_EXPIRES_S}")
    if now > moment + timedelta(seconds=expires_s):
        raise S3Error("AccessDenied", "Request has expired", 403)
    if moment - now > timedelta(seconds=max_skew_s):
        raise S3Error("AccessDenied", "Request is not valid yet", 403)
    if scope.date != timestamp[:8]:
        raise S3Error("AuthorizationQueryParametersError",
                      "the credential's date is not X-Amz-Date's")
    key = await _resolve(keys, scope.key_id)
    signer = _QuerySigner(Credentials(scope.key_id, key.secret), scope.region, signed)
    query = [(name, value) for name, value in parts.query if name != "X-Amz-Signature"]
    request = _matches(signer, parts, signed, timestamp, query, params["X-Amz-Signature"],
                       payload_header=False)
    if request is None:
        raise S3Error("SignatureDoesNotMatch",
                      "the request signature we calculated does not match the signature"
                      " you provided; check your key and signing method", 403)
    return Authenticated(key.principal, scope.key_id, UNSIGNED_PAYLOAD, None)
