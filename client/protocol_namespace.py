"""Namespace operations (DESIGN §11) as sans-I/O calls: directories, move, copy,
versions, restore, recursive deletes and the tasks that run them.

Idempotence decides retries after a lost answer (``client.retry``): ``mkdir`` is (a
second one says ``created: false``); a repeated move, copy, restore or recursive delete
would not be harmless (the path is gone, the target exists, one more version, a second
task), so those are sent again only when the first try never left the client.
"""

from __future__ import annotations

from typing import Any

from client import addressing
from client.models_ops import MkdirResult, PathOpResult, RestoreResult, TaskStatus, VersionEntry
from client.protocol import ApiRequest, ApiResponse, Call, data_of
from common.errors import BadPath

__all__ = [
    "copy",
    "delete_empty_dir",
    "delete_tree",
    "mkdir",
    "move",
    "restore",
    "task",
    "versions",
]


def mkdir(remote: str) -> Call[MkdirResult]:
    """Create the directory ``bucket/dir`` and its parents."""
    if not addressing.parse(remote, file=False).path:
        raise BadPath(f"{remote!r} is a bucket's root, which always exists (mkdir takes "
                      "bucket/dir)")
    request = ApiRequest("POST", addressing.dir_route(remote), idempotent=True)
    return Call(request, lambda r: MkdirResult.from_json(data_of(r)))


def _path_op(op: str, source: str, target: str, overwrite: bool, if_match: str | None,
             if_none_match: bool) -> Call[PathOpResult]:
    body = {"from": str(addressing.parse(source)), "to": str(addressing.parse(target)),
            "overwrite": overwrite}
    headers: dict[str, str] = {}
    if if_match:
        headers["If-Match"] = f'"{if_match}"'
    if if_none_match:
        headers["If-None-Match"] = "*"
    request = ApiRequest("POST", f"/api/v1/ops/{op}", idempotent=False, json_body=body,
                         headers=headers)
    return Call(request, lambda r: PathOpResult.from_json(op, data_of(r)))


def move(source: str, target: str, *, overwrite: bool = False, if_match: str | None = None,
         if_none_match: bool = False) -> Call[PathOpResult]:
    """Move a file or a directory with everything below it, in one transaction.
    ``if_match`` / ``if_none_match`` are conditions on the target (412 when unmet)."""
    return _path_op("move", source, target, overwrite, if_match, if_none_match)


def copy(source: str, target: str, *, overwrite: bool = False, if_match: str | None = None,
         if_none_match: bool = False) -> Call[PathOpResult]:
    """Copy a file or a directory; the copy shares the chunks (no bytes move)."""
    return _path_op("copy", source, target, overwrite, if_match, if_none_match)


def versions(remote: str) -> Call[tuple[VersionEntry, ...]]:
    """The kept versions of a file, newest first."""
    def parse(r: ApiResponse) -> tuple[VersionEntry, ...]:
        return tuple(VersionEntry.from_json(v) for v in data_of(r).get("versions", []))
    request = ApiRequest("GET", addressing.file_route(remote), idempotent=True,
                         params={"versions": "true"})
    return Call(request, parse)


def restore(remote: str, version_id: str) -> Call[RestoreResult]:
    """Make ``version_id``'s content current again, as a new version."""
    body = {"path": str(addressing.parse(remote)), "version_id": version_id}
    request = ApiRequest("POST", "/api/v1/ops/restore", idempotent=False, json_body=body)
    return Call(request, lambda r: RestoreResult.from_json(data_of(r)))


def delete_tree(remote: str) -> Call[TaskStatus]:
    """Start deleting the directory ``bucket/dir`` and everything below it (a task)."""
    addressing.parse(remote)  # a whole bucket goes with ``buckets.delete``
    request = ApiRequest("DELETE", addressing.dir_route(remote), idempotent=False,
                         params={"recursive": "true"})
    return Call(request, lambda r: TaskStatus.started("delete_tree", data_of(r)))


def delete_empty_dir(remote: str) -> Call[dict[str, Any]]:
    """Delete the directory ``bucket/dir`` if it is empty (``conflict`` otherwise)."""
    addressing.parse(remote)
    request = ApiRequest("DELETE", addressing.dir_route(remote), idempotent=True)
    return Call(request, data_of)


def task(task_id: str) -> Call[TaskStatus]:
    request = ApiRequest("GET", f"/api/v1/tasks/{addressing.quote(task_id)}", idempotent=True)
    return Call(request, lambda r: TaskStatus.from_json(data_of(r)))
