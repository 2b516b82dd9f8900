"""Volumes: small blobs as needles in append-only files (Haystack / SeaweedFS style).

``needle`` is the on-disk format, ``volume`` one file with group commit, ``recovery``
what a start makes of a file after a crash, ``index`` the in-memory map, ``volume_set``
the store itself and ``compaction`` the space reclaimer. ``worker/backends/local_volumes``
puts them behind the ``ChunkBackend`` contract.
"""

__all__: list[str] = []
