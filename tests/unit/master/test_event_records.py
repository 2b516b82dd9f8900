"""The event shape readers get, and the waker that never loses a wake-up."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from master.background.event_pump import EventWaker
from master.domain.events import Event


def test_an_event_shows_its_optional_fields_only_when_set() -> None:
    at = datetime(2026, 12, 6, tzinfo=UTC)
    bare = Event(3, "bucket.created", 1, "b", 7, "", "alice", at)
    assert bare.public() == {"id": 3, "type": "bucket.created", "bucket": "b", "path": "",
                             "actor": "alice", "at": at.isoformat()}
    version = uuid.uuid4()
    moved = Event(4, "file.moved", 1, "b", 7, "x/y", "alice", at, from_bucket="a",
                  from_path="y", version_id=version, size=5, etag="e")
    assert moved.public()["from_bucket"] == "a" and moved.public()["from_path"] == "y"
    assert moved.public()["version_id"] == str(version)
    assert (moved.public()["size"], moved.public()["etag"]) == (5, "e")


async def test_a_wake_up_between_reading_and_waiting_is_not_lost() -> None:
    waker = EventWaker()
    seen = waker.generation
    waker.wake()  # arrives after the reader looked, before it waits
    await asyncio.wait_for(waker.wait(seen, timeout_s=30), 1)


async def test_a_waiter_wakes_on_wake_and_otherwise_times_out() -> None:
    waker = EventWaker()
    waiting = asyncio.create_task(waker.wait(waker.generation, timeout_s=30))
    await asyncio.sleep(0)
    assert not waiting.done()
    waker.wake()
    await asyncio.wait_for(waiting, 1)
    await asyncio.wait_for(waker.wait(waker.generation, timeout_s=0.01), 1)
