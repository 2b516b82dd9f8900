"""Fuzzed path names against every door that takes one (issue 16, must-show 4).

Whatever the name, no route answers 500, and every route gives it the same verdict:
refused as a bad name (400) everywhere, or accepted everywhere (then 2xx, 404 or 409
by what is stored). The verdict is the one normalizer's (master/services/paths.py).
Documented, deliberate differences are left out of the comparison: a body field drops
leading and trailing slashes (so names here have none), and JSON bodies refuse NUL as
``bad_json`` before a path is looked at (still a 400 refusal).
"""

from __future__ import annotations

import base64
import urllib.parse
import uuid

import aiohttp
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from common.errors import BadPath
from master.services.paths import normalize_path
from tests.support.api import ApiClient
from tools.cluster import LocalCluster

REFUSED = {"bad_path", "bad_json", "invalid_input"}

segment = st.one_of(
    st.sampled_from([".", "..", "%2e%2e", "a%2Fb", "a\\b", "caf\u00e9", "cafe\u0301", "x" * 256,
                     "\u00a0", "\x7f", "\x85", "\x00", "\t", "é" * 130, "?", "#", "%", "+", " "]),
    st.text(min_size=0, max_size=12),
)
names = st.lists(segment, min_size=1, max_size=4).map("/".join).filter(
    lambda n: n != "" and not n.startswith("/") and not n.endswith("/"))


def _url_path(name: str) -> str:
    return "/".join(urllib.parse.quote(s, safe="") for s in name.split("/"))


async def _status(api: ApiClient, method: str, url: str, **kwargs: object) -> tuple[int, str]:
    async with api.session.request(method, aiohttp.client.URL(url, encoded=True),  # type: ignore[arg-type]
                                   headers={**api.auth, **kwargs.pop("headers", {})},  # type: ignore[dict-item]
                                   **kwargs) as r:
        body = await r.json() if r.content_type == "application/json" else {}
        code = body.get("code", "") if isinstance(body, dict) else ""
        if r.status == 201 and method == "POST" and url.endswith("/upload/init"):
            await api.call("DELETE", f"/api/v1/files/upload/{body['data']['session_id']}")
        if r.status == 201 and "Location" in r.headers and "/tus/" in r.headers["Location"]:
            await api.session.delete(r.headers["Location"],
                                     headers={**api.auth, "Tus-Resumable": "1.0.0"})
        return r.status, code


async def _verdicts(api: ApiClient, name: str) -> dict[str, tuple[int, str]]:
    base, home = api.base_url, api.home_bucket
    fs = f"{base}/api/v1/fs/{home}/{_url_path(name)}"
    form = aiohttp.FormData()
    form.add_field("path", name)
    form.add_field("file", b"x", filename="x.bin")
    tus_meta = "path " + base64.b64encode(name.encode("utf-8", "surrogatepass")).decode()
    return {
        "PUT fs": await _status(api, "PUT", fs, data=b"x"),
        "GET fs": await _status(api, "GET", fs),
        "HEAD fs": await _status(api, "HEAD", fs),
        "GET dir": await _status(api, "GET", fs + "/"),
        "POST dir": await _status(api, "POST", fs + "/"),
        "GET versions": await _status(api, "GET", fs + "?versions=true"),
        "DELETE fs": await _status(api, "DELETE", fs),
        "multipart": await _status(api, "POST", f"{base}/api/v1/files/upload", data=form),
        "session": await _status(api, "POST", f"{base}/api/v1/files/upload/init", json={
            "file_name": "f.bin", "file_size": 1, "path": name}),
        "tus": await _status(api, "POST", f"{base}/api/v1/tus/", headers={
            "Tus-Resumable": "1.0.0", "Upload-Length": "1", "Upload-Metadata": tus_meta}),
        "copy to": await _status(api, "POST", f"{base}/api/v1/ops/copy", json={
            "from": f"{home}/fuzz-source", "to": f"{home}/{name}"}),
        "move from": await _status(api, "POST", f"{base}/api/v1/ops/move", json={
            "from": f"{home}/{name}", "to": f"{home}/fuzz-{uuid.uuid4().hex[:8]}"}),
        "restore": await _status(api, "POST", f"{base}/api/v1/ops/restore", json={
            "path": f"{home}/{name}", "version_id": str(uuid.uuid4())}),
    }


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=names)
async def test_every_route_gives_a_name_one_answer_and_never_a_500(
    cluster: LocalCluster, name: str
) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        api = ApiClient(cluster.master_url, session)
        await api.register_and_login(username="fuzzer-" + uuid.uuid4().hex[:8])
        assert (await api.upload_raw(b"src", "fuzz-source"))[0] == 201
        try:
            normalize_path(name)
            expected_refused = False
        except BadPath:
            expected_refused = True
        event("refused" if expected_refused else "accepted")
        verdicts = await _verdicts(api, name)
    assert all(status < 500 for status, _ in verdicts.values()), verdicts
    refused = {route: status == 400 and (code in REFUSED or route in {"HEAD fs", "tus"})
               for route, (status, code) in verdicts.items()}
    assert set(refused.values()) == {expected_refused}, (name, verdicts)
