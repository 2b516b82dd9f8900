"""ChunkCache: bounded in bytes (entries counted with their overhead), least recently
used out first, small chunks only, memoryviews copied, lookups counted."""

from __future__ import annotations

from master.replication.chunk_cache import ENTRY_OVERHEAD_BYTES, ChunkCache


def _cost(*sizes: int) -> int:
    return sum(size + ENTRY_OVERHEAD_BYTES for size in sizes)


def test_it_keeps_and_returns_what_was_put() -> None:
    cache = ChunkCache(capacity_bytes=10_000, max_chunk_bytes=1_000)
    cache.put("a", b"x" * 100)
    assert cache.get("a") == b"x" * 100
    assert cache.get("b") is None
    assert cache.bytes_held == _cost(100)


def test_the_least_recently_used_entry_leaves_first_when_the_bound_is_passed() -> None:
    cache = ChunkCache(capacity_bytes=_cost(100, 100, 100), max_chunk_bytes=1_000)
    for key in ("a", "b", "c"):
        cache.put(key, key.encode() * 100)
    assert cache.get("a") is not None  # a is now the most recently used: b goes next
    cache.put("d", b"d" * 100)
    assert cache.get("b") is None
    assert [cache.get(k) is not None for k in ("a", "c", "d")] == [True, True, True]
    assert cache.bytes_held == _cost(100, 100, 100) and len(cache) == 3


def test_many_tiny_entries_are_bounded_by_their_overhead_too() -> None:
    cache = ChunkCache(capacity_bytes=10 * ENTRY_OVERHEAD_BYTES, max_chunk_bytes=1_000)
    for index in range(1_000):
        cache.put(f"k{index}", b"z")
    assert len(cache) == 10 * ENTRY_OVERHEAD_BYTES // _cost(1)
    assert cache.bytes_held <= cache.capacity_bytes


def test_chunks_above_the_size_limit_and_empty_ones_are_not_kept() -> None:
    cache = ChunkCache(capacity_bytes=100_000, max_chunk_bytes=1_000)
    cache.put("big", b"b" * 1_001)
    cache.put("empty", b"")
    assert cache.get("big") is None and cache.get("empty") is None
    assert cache.bytes_held == 0
    assert cache.wants(1_000) and not cache.wants(1_001) and not cache.wants(0)


def test_a_memoryview_is_copied_so_the_cache_never_pins_a_larger_buffer() -> None:
    buffer = bytearray(b"0123456789" * 10)
    cache = ChunkCache(capacity_bytes=10_000, max_chunk_bytes=1_000)
    cache.put("slice", memoryview(buffer)[10:20])
    buffer[10:20] = b"overwrite!"
    assert cache.get("slice") == b"0123456789"
    cache.put("mutable", buffer)  # a bytearray is copied as well
    buffer[0:1] = b"X"
    assert cache.get("mutable") == b"0123456789" + b"overwrite!" + b"0123456789" * 8


def test_putting_a_held_id_again_only_refreshes_it() -> None:
    cache = ChunkCache(capacity_bytes=_cost(10, 10), max_chunk_bytes=100)
    cache.put("a", b"a" * 10)
    cache.put("b", b"b" * 10)
    cache.put("a", b"a" * 10)  # refresh: b is now the oldest
    assert cache.bytes_held == _cost(10, 10)
    cache.put("c", b"c" * 10)
    assert cache.get("b") is None and cache.get("a") == b"a" * 10


def test_a_zero_capacity_cache_is_off_and_counts_no_lookups() -> None:
    lookups: list[bool] = []
    cache = ChunkCache(capacity_bytes=0, max_chunk_bytes=65_536, on_lookup=lookups.append)
    assert not cache.enabled and not cache.wants(10)
    cache.put("a", b"a")
    assert cache.get("a") is None
    assert lookups == [] and cache.bytes_held == 0


def test_every_lookup_is_reported_as_hit_or_miss() -> None:
    lookups: list[bool] = []
    cache = ChunkCache(capacity_bytes=10_000, max_chunk_bytes=1_000, on_lookup=lookups.append)
    cache.put("a", b"a")
    cache.get("a")
    cache.get("b")
    assert lookups == [True, False]
