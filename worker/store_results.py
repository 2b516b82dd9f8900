"""What the worker's store answers: put results, its status, and the one translation of
an unexpected backend failure into our error vocabulary (``worker.store``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from common.errors import EchoError, Unavailable

__all__ = ["PutResult", "StoreStatus", "as_echo_error"]

log = logging.getLogger("worker.store")


def as_echo_error(error: BaseException, doing: str = "storing the blob") -> EchoError:
    if isinstance(error, EchoError):
        return error
    log.error("backend call failed unexpectedly: %s", doing, exc_info=error)
    return Unavailable(f"{doing} failed: {error}")


@dataclass(frozen=True, slots=True)
class PutResult:
    chunk_id: str
    stored_size: int
    already_present: bool


@dataclass(frozen=True, slots=True)
class StoreStatus:
    capacity_bytes: int
    used_bytes: int
    chunk_count: int
    corrupt_blobs_found: int
