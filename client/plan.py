"""Transfer planning — pure: which byte spans make a file, which of them to send, to
reference or to skip, and whether saved progress may be resumed.

The async engines (``client.uploads``, ``client.downloads``) do the I/O; every decision
they take is one of these functions, unit-tested without a server or a disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from client.models import SessionStatus

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "FileIdentity",
    "PartPlan",
    "Span",
    "pending_spans",
    "plan_parts",
    "request_runs",
    "session_resumable",
    "spans",
]

# DESIGN §3's CHUNK_SIZE default; declared by the client so it can hash the file (chunk
# ids and the whole-file SHA-256, which the server then verifies) before the session.
DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Span:
    index: int
    offset: int
    length: int

    @property
    def last(self) -> int:
        """The last byte's offset (HTTP ranges are inclusive)."""
        return self.offset + self.length - 1


def spans(size: int, piece_size: int) -> list[Span]:
    """``size`` bytes cut into ``piece_size`` pieces, the last one shorter (none for 0).

    Matches the master's session arithmetic: ``ceil(size / chunk_size)`` parts.
    """
    if piece_size <= 0:
        raise ValueError("piece_size must be positive")
    if size < 0:
        raise ValueError("size must be >= 0")
    return [Span(i, offset, min(piece_size, size - offset))
            for i, offset in enumerate(range(0, size, piece_size))]


def pending_spans(size: int, piece_size: int, done: Iterable[int]) -> list[Span]:
    finished = set(done)
    return [s for s in spans(size, piece_size) if s.index not in finished]


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """What says a local file is the one a saved session was uploading. A changed size or
    modification time means new content; the chunk ids, checked again on every read,
    catch the rest."""

    size: int
    mtime_ns: int
    inode: int


@dataclass(frozen=True, slots=True)
class PartPlan:
    """Per part index of a session: already on the server, referenced by chunk id (the
    cluster holds it for the caller), or sent as bytes."""

    skip: tuple[int, ...]
    reference: tuple[int, ...]
    send: tuple[int, ...]


def plan_parts(chunk_ids: Sequence[str], received: Iterable[int],
               present: Iterable[str]) -> PartPlan:
    """Decide every part: received ones are skipped, ones whose chunk the cluster may
    lend are referenced, the rest are sent."""
    have = set(received)
    held = set(present)
    skip: list[int] = []
    reference: list[int] = []
    send: list[int] = []
    for index, chunk_id in enumerate(chunk_ids):
        if index in have:
            skip.append(index)
        elif chunk_id in held:
            reference.append(index)
        else:
            send.append(index)
    return PartPlan(tuple(skip), tuple(reference), tuple(send))


def session_resumable(status: SessionStatus, file_size: int, chunk_size: int) -> bool:
    """Whether a saved session can take the rest of this file: still open, for a file of
    this size cut the same way."""
    return (status.state == "open" and status.file_size == file_size
            and status.chunk_size == chunk_size)


def request_runs(todo: Sequence[Span], parallel: int, max_pieces: int) -> list[list[Span]]:
    """The ranged requests of a download: runs of consecutive pieces (one request each,
    streamed), in order. Each holds at most ``max_pieces``, and fewer when that keeps
    all ``parallel`` lanes busy: a few large requests cost the master less than many
    small ones, and a request's pieces are recorded one by one as they land."""
    if not todo:
        return []
    per_request = max(1, min(max_pieces, -(-len(todo) // max(1, parallel))))
    runs: list[list[Span]] = []
    current: list[Span] = []
    for span in todo:
        if current and (span.index != current[-1].index + 1 or len(current) == per_request):
            runs.append(current)
            current = []
        current.append(span)
    runs.append(current)
    return runs
