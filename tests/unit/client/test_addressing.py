"""Remote paths: one spelling, one route (the module issue 16 switches to bucket/path)."""

from __future__ import annotations

import pytest

from client.addressing import file_route, list_params, list_route, normalize, session_path
from common.errors import BadPath


def test_paths_are_normalized_and_quoted_once() -> None:
    assert normalize("/a//b/./c") == "a/b/c"
    assert file_route("dir/a b#?.txt") == "/api/v1/fs/dir/a%20b%23%3F.txt"
    assert session_path("/x/y") == "x/y"
    assert list_params("") == {} and list_params("/docs/") == {"prefix": "docs/"}
    assert list_route("docs/") == ("/api/v1/files", {"prefix": "docs/"})


@pytest.mark.parametrize("bad", ["", "/", "a/../b", "a\x00b"])
def test_paths_that_cannot_name_a_file_are_refused(bad: str) -> None:
    with pytest.raises(BadPath):
        normalize(bad)
