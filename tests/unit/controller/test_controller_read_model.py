"""The controller's read model: how shape differences are reported, and that the controller's
SQL names no table of the master (only the views it declares and its own tables)."""

from __future__ import annotations

import re
from pathlib import Path

from consistency_controller.read_model import READ_MODEL, ViewShape, shape_differences

PACKAGE = Path(__file__).resolve().parents[3] / "consistency_controller"

DECLARED = (
    ViewShape("v_one", {"a": "text", "b": "bigint"}),
    ViewShape("v_two", {"ids": "text[]"}),
)


def test_views_that_agree_have_no_differences() -> None:
    found = {"v_one": {"b": "bigint", "a": "text"}, "v_two": {"ids": "text[]"}}
    assert shape_differences(DECLARED, found) == []


def test_a_missing_view_a_missing_extra_or_retyped_column_are_each_reported() -> None:
    assert shape_differences(DECLARED, {}) == ["v_one: missing", "v_two: missing"]
    found = {"v_one": {"a": "uuid", "c": "text"}, "v_two": {"ids": "text[]"}}
    assert shape_differences(DECLARED, found) == [
        "v_one.a: uuid, expected text",
        "v_one.b: missing",
        "v_one.c: not declared (text)",
    ]


def _sql_of_package() -> str:
    """Every string literal in the controller's modules, concatenated per statement."""
    text = "\n".join(path.read_text() for path in sorted(PACKAGE.glob("*.py")))
    return " ".join(re.findall(r'"((?:[^"\\]|\\.)*)"', text))


def _own_tables() -> set[str]:
    ddl = "\n".join(p.read_text() for p in (PACKAGE / "migrations").glob("*.sql"))
    return set(re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", ddl, re.IGNORECASE))


def test_the_controller_reads_only_its_declared_views_and_its_own_tables() -> None:
    sql = _sql_of_package()
    named = set(re.findall(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+([a-z_][a-z0-9_]*)", sql))
    named -= {"now"}  # EXTRACT(EPOCH FROM now() - ...)
    named -= {"information_schema"}  # the catalog, where read_model checks the views
    allowed = {view.name for view in READ_MODEL} | _own_tables()
    assert named, "the scan found no SQL at all: the pattern is broken"
    assert named <= allowed, f"not a declared view nor the controller's own: {named - allowed}"
    assert {view.name for view in READ_MODEL} <= named, "a declared view nobody reads"
