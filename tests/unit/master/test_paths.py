from __future__ import annotations

import pytest

from common.errors import BadPath
from master.services.paths import normalize_path


@pytest.mark.parametrize("raw", [
    "..", "../etc/passwd", "a/../b", "a/./b", "a//b", "a\x00b", "a\nb", "a\\b", "", "/", "x" * 2000,
])
def test_escapes_and_junk_are_rejected(raw: str) -> None:
    with pytest.raises(BadPath):
        normalize_path(raw)


@pytest.mark.parametrize(("raw", "expected"), [
    ("/docs/readme.md", "docs/readme.md"),
    ("docs/readme.md/", "docs/readme.md"),
    ("voicemail/2026/11/21/msg-01.wav", "voicemail/2026/11/21/msg-01.wav"),
    ("..hidden/x", "..hidden/x"),
])
def test_ordinary_paths_are_kept(raw: str, expected: str) -> None:
    assert normalize_path(raw) == expected
