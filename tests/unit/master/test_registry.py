"""WorkerRegistry makes its clients through the factory it is given: one per worker,
a new one when a worker moves, none left open for a worker that is gone."""

from __future__ import annotations

import asyncio

from tests.support.fake_workers import FakeWorkers


async def test_each_worker_gets_one_client_from_the_factory() -> None:
    cluster = FakeWorkers()
    for worker_id in ("w1", "w2"):
        cluster.add(worker_id)
    registry = await cluster.registry()
    assert registry.client("w1") is cluster["w1"] and registry.client("w2") is cluster["w2"]
    await registry.refresh()
    assert registry.client("w1") is cluster["w1"]  # kept, not remade
    assert registry.client("w3") is None
    await registry.close()
    assert cluster["w1"].closed and cluster["w2"].closed


async def test_a_moved_worker_gets_a_new_client_and_the_old_one_is_closed() -> None:
    cluster = FakeWorkers()
    old = cluster.add("w1")
    registry = await cluster.registry()
    moved = cluster.move("w1", "fake-w1:2")
    await registry.refresh()
    assert registry.client("w1") is moved
    view = registry.view("w1")
    assert view is not None and view.address == "fake-w1:2"
    for _ in range(3):  # the old client's close is a task of its own
        await asyncio.sleep(0)
    assert old.closed and not moved.closed
    await registry.close()


async def test_a_worker_gone_from_membership_is_forgotten_and_its_client_closed() -> None:
    cluster = FakeWorkers()
    for worker_id in ("w1", "w2"):
        cluster.add(worker_id)
    registry = await cluster.registry()
    cluster.remove("w2")
    await registry.refresh()
    assert registry.client("w2") is None and registry.view("w2") is None
    assert cluster["w2"].closed and not cluster["w1"].closed
    assert registry.read_order(["w2", "w1"]) == ["w1"]
    await registry.close()
