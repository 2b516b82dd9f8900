"""Transfer planning: the chunk layout, which parts to send, and when to resume."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from client.models import SessionStatus
from client.plan import pending_spans, plan_parts, session_resumable, spans


@given(st.integers(1, 10**8), st.integers(0, 50), st.floats(0, 1, exclude_max=True))
def test_spans_tile_the_file_like_the_masters_session_arithmetic(
    piece: int, whole_pieces: int, fraction: float
) -> None:
    size = whole_pieces * piece + int(fraction * piece)
    layout = spans(size, piece)
    assert len(layout) == -(-size // piece)
    assert sum(s.length for s in layout) == size
    assert all(s.offset == i * piece and s.index == i for i, s in enumerate(layout))
    assert all(s.length == piece for s in layout[:-1])
    assert all(0 < s.length <= piece for s in layout)


def test_an_empty_file_has_no_parts_and_ranges_are_inclusive() -> None:
    assert spans(0, 4) == []
    assert spans(10, 4)[-1].last == 9


def test_pending_spans_skip_the_done_ones() -> None:
    assert [s.index for s in pending_spans(10, 4, {0, 2})] == [1]


def test_parts_on_the_server_are_skipped_held_chunks_referenced_the_rest_sent() -> None:
    ids = ["a", "b", "c", "a", "d"]
    plan = plan_parts(ids, received=[1], present={"a", "b"})
    assert plan.skip == (1,) and plan.reference == (0, 3) and plan.send == (2, 4)


def _status(state: str = "open", size: int = 100, chunk: int = 10) -> SessionStatus:
    return SessionStatus("s", state, "p", size, chunk, -(-size // chunk), (0,), chunk)


def test_only_an_open_session_for_the_same_layout_is_resumed() -> None:
    assert session_resumable(_status(), 100, 10)
    assert not session_resumable(_status(state="completed"), 100, 10)
    assert not session_resumable(_status(size=101), 100, 10)
    assert not session_resumable(_status(), 100, 20)


def test_requests_are_runs_of_consecutive_pieces_sized_to_keep_every_lane_busy() -> None:
    from client.plan import request_runs
    layout = spans(20 * 10, 10)  # 20 pieces
    todo = [s for s in layout if s.index not in {5, 6}]

    def runs(parallel: int, most: int) -> list[list[int]]:
        return [[s.index for s in run] for run in request_runs(todo, parallel, most)]
    assert runs(4, 8) == [[0, 1, 2, 3, 4], [7, 8, 9, 10, 11], [12, 13, 14, 15, 16],
                          [17, 18, 19]]
    assert runs(1, 8) == [[0, 1, 2, 3, 4], [7, 8, 9, 10, 11, 12, 13, 14], [15, 16, 17, 18, 19]]
    assert runs(64, 8) == [[i] for i in range(20) if i not in {5, 6}]
    assert request_runs([], 4, 8) == []
