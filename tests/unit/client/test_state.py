"""Saved progress between runs: upload sessions and partial downloads."""

from __future__ import annotations

from pathlib import Path

from client.plan import FileIdentity
from client.state import (
    DownloadState,
    SavedUpload,
    UploadStateStore,
    load_download_state,
    save_download_state,
)


def _saved(session_id: str = "s1") -> SavedUpload:
    return SavedUpload(session_id, "/tmp/f", "r/f", 10, 123, 7, 4, "ab" * 32)


def test_uploads_are_saved_found_and_forgotten_per_key(tmp_path: Path) -> None:
    store = UploadStateStore(tmp_path)
    one = store.key(tmp_path / "f", "r/f", ("http://a:1",))
    other = store.key(tmp_path / "f", "r/g", ("http://a:1",))
    store.save(one, _saved("s1"))
    store.save(other, _saved("s2"))
    assert store.find(one) == _saved("s1") and store.find(other) == _saved("s2")
    assert (tmp_path / "uploads.json").stat().st_mode & 0o777 == 0o600
    store.forget(one)
    assert store.find(one) is None and store.find(other) == _saved("s2")


def test_the_same_path_in_two_buckets_has_two_resume_keys(tmp_path: Path) -> None:
    store = UploadStateStore(tmp_path)
    store.save(store.key(tmp_path / "f", "b1/f", ("http://a:1",)), _saved("s1"))
    assert store.find(store.key(tmp_path / "f", "b2/f", ("http://a:1",))) is None


def test_a_changed_file_does_not_match_its_saved_session() -> None:
    saved = _saved()
    assert saved.matches(FileIdentity(10, 123, 7))
    assert not saved.matches(FileIdentity(10, 124, 7))
    assert not saved.matches(FileIdentity(11, 123, 7))


def test_unreadable_state_is_ignored_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "uploads.json").write_text("{not json", encoding="utf-8")
    assert UploadStateStore(tmp_path).find("k") is None
    (tmp_path / "d.part.json").write_text('{"remote": 1}', encoding="utf-8")
    assert load_download_state(tmp_path / "d.part.json") is None


def test_no_folder_means_nothing_is_saved() -> None:
    store = UploadStateStore(None)
    store.save("k", _saved())
    assert store.find("k") is None


def test_download_state_is_usable_only_for_the_same_version_and_layout(tmp_path: Path) -> None:
    path = tmp_path / "x.part.json"
    save_download_state(path, DownloadState("r/x", "ff", 100, 10, (0, 3)))
    state = load_download_state(path)
    assert state == DownloadState("r/x", "ff", 100, 10, (0, 3))
    assert state.usable_for("r/x", "ff", 100, 10)
    assert not state.usable_for("r/x", "ee", 100, 10)
    assert not state.usable_for("r/x", "ff", 100, 20)
