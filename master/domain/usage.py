"""Usage and quota records (DESIGN §12): what a bucket, user or group holds, and its limits.

What counts (migration 0010): every file version that holds content, current or
noncurrent, with its logical size (a chunk shared by dedup counts fully in each file);
delete markers count for nothing. ``files`` counts those versions as well, so in an
unversioned bucket it is the number of files. A user's usage is the sum of the buckets
the user owns.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Headroom", "Usage", "UsageDrift"]


@dataclass(frozen=True, slots=True)
class Usage:
    """One counter row: a scope's usage and its quotas (None: no limit)."""

    scope: str  # 'bucket' | 'user' | 'group'
    scope_id: int
    used_bytes: int
    files: int
    quota_bytes: int | None = None
    quota_files: int | None = None
    name: str = ""  # the bucket's, user's or group's name, when the query knew it


@dataclass(frozen=True, slots=True)
class Headroom:
    """A scope with a quota that a write into one bucket path counts in, and what the
    write could free at best (every content version of the file already at that path:
    an upper bound of what its commit may drop)."""

    usage: Usage
    freeable_bytes: int
    freeable_files: int

    def refuses(self, declared_bytes: int) -> bool:
        """Whether a new version of ``declared_bytes`` is sure to be refused at commit.

        The commit refuses when it increases a counter past its quota; even in the
        best case (everything freeable freed) this write would, so refusing it before a
        byte moves changes no outcome. Anything less certain is left to the commit.
        """
        u = self.usage
        best_bytes = declared_bytes - self.freeable_bytes
        best_files = 1 - self.freeable_files
        return (
            (u.quota_bytes is not None and best_bytes > 0
             and u.used_bytes + best_bytes > u.quota_bytes)
            or (u.quota_files is not None and best_files > 0
                and u.files + best_files > u.quota_files)
        )


@dataclass(frozen=True, slots=True)
class UsageDrift:
    """A counter that differs from a full recount (``expected``): a bug if ever seen."""

    scope: str
    scope_id: int
    counted_bytes: int
    counted_files: int
    expected_bytes: int
    expected_files: int
