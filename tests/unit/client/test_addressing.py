"""Remote paths are ``bucket/path`` (DESIGN §14): one spelling, one route each."""

from __future__ import annotations

import pytest

from client.addressing import (
    RemotePath,
    dir_route,
    file_route,
    normalize,
    parse,
    session_fields,
)
from common.errors import BadPath


def test_the_first_segment_is_the_bucket_and_paths_are_quoted_once() -> None:
    assert normalize("/a//b/./c") == "a/b/c"
    assert parse("/home-b//dir/./f.txt") == RemotePath("home-b", "dir/f.txt")
    assert file_route("home-b/dir/a b#?.txt") == "/api/v1/fs/home-b/dir/a%20b%23%3F.txt"
    assert session_fields("/home-b/x/y") == {"bucket": "home-b", "path": "x/y"}
    assert str(parse("b/x/y")) == "b/x/y" and parse("b/x/y").name == "y"


def test_directories_list_at_the_trailing_slash_route_and_a_bare_bucket_is_its_root() -> None:
    assert dir_route("b/docs/") == "/api/v1/fs/b/docs/"
    assert dir_route("b/docs/a b") == "/api/v1/fs/b/docs/a%20b/"
    assert dir_route("b") == dir_route("b/") == "/api/v1/fs/b/"
    assert parse("b", file=False) == RemotePath("b", "")


@pytest.mark.parametrize("bad", ["", "/", "a/../b", "a\x00b"])
def test_paths_that_cannot_name_anything_are_refused(bad: str) -> None:
    with pytest.raises(BadPath):
        normalize(bad)


@pytest.mark.parametrize("bare", ["bucket", "/bucket/", "bucket/./"])
def test_a_file_operation_needs_a_path_inside_the_bucket(bare: str) -> None:
    with pytest.raises(BadPath, match="bucket/path"):
        file_route(bare)
    with pytest.raises(BadPath):
        session_fields(bare)
