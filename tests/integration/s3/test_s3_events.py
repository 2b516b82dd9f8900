"""The gateway writes the change feed's events (DESIGN §13, issue 21 point 4) as REST
does, including where S3 has operations REST lacks: deleting one version for good
(an event only when it changes what the key reads as) and DeleteBucket of a bucket that
holds only empty directories."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp

from tests.support.api import ApiClient
from tests.support.events import collect, poll
from tests.support.s3 import S3User
from tools.cluster import LocalCluster


async def test_version_deletes_and_bucket_deletes_through_s3_write_their_events(
    s3: Any, user: S3User, s3_cluster: LocalCluster
) -> None:
    bucket = f"s3e-{uuid.uuid4().hex[:12]}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        api = ApiClient(s3_cluster.master_url, session, token=user.token)
        status, body = await poll(api)
        assert status == 200, body
        start = int(body["data"]["last_id"])
        reading = asyncio.create_task(collect(api, start, 8, timeout_s=90))

        def through_s3() -> dict[str, str]:
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket,
                                     VersioningConfiguration={"Status": "Enabled"})
            ids = {"one": s3.put_object(Bucket=bucket, Key="doc", Body=b"one")["VersionId"],
                   "two": s3.put_object(Bucket=bucket, Key="doc", Body=b"two")["VersionId"]}
            # A noncurrent version going changes nothing "doc" reads as: no event.
            s3.delete_object(Bucket=bucket, Key="doc", VersionId=ids["one"])
            ids["marker"] = s3.delete_object(Bucket=bucket, Key="doc")["VersionId"]
            s3.delete_object(Bucket=bucket, Key="doc", VersionId=ids["marker"])  # undelete
            s3.delete_object(Bucket=bucket, Key="doc", VersionId=ids["two"])  # the last
            s3.put_object(Bucket=bucket, Key="empty/", Body=b"")  # a directory, left over
            s3.delete_bucket(Bucket=bucket)
            return ids

        ids = await asyncio.to_thread(through_s3)
        events, _ = await reading

    mine = [e for e in events if e["bucket"] == bucket]
    assert [(e["type"], e["path"], e.get("version_id")) for e in mine] == [
        ("bucket.created", "", None),
        ("file.created", "doc", ids["one"]),
        ("file.updated", "doc", ids["two"]),
        ("file.deleted", "doc", ids["marker"]),
        ("file.restored", "doc", ids["two"]),
        ("file.deleted", "doc", None),
        ("dir.created", "empty", None),
        ("bucket.deleted", "", None),
    ], events
    assert [e["actor"] for e in mine] == [user.username] * len(mine)
    restored = mine[4]
    assert (restored["size"], restored["etag"]) == (3, mine[2]["etag"])
