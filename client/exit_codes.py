"""The ``echofs`` command's exit codes: one per family of the server's error codes, so a
script can tell "try later" from "fix your input" without parsing text.

====  ==========================================================================
code  meaning (error codes)
====  ==========================================================================
0     success
1     unexpected failure (``internal``, a bug; ``--debug`` shows the traceback;
      ``task_failed``: a server task such as a recursive delete failed)
2     bad command line (usage)
3     invalid input (``invalid_input``, ``bad_path``, ``bad_json``, ...)
4     not logged in or bad credentials (``unauthenticated``, ``bad_credentials``)
5     not allowed (``forbidden``)
6     no such file (``not_found``, ``chunk_not_found``; also a missing local file)
7     conflict (``conflict``, ``upload_locked``, ``session_closed``, ...)
8     gone (``gone``, ``session_expired``)
9     changed meanwhile (``precondition_failed``)
10    too large or full (``payload_too_large``, ``storage_full``)
11    slow down (``too_many_requests``, ``rate_limited``)
12    cluster unavailable (``unavailable``, ``quorum_not_reached``,
      ``dependency_down``, ``connection_failed``: no master answered)
13    integrity (``checksum_mismatch``, ``chunk_id_mismatch``, ``chunk_corrupt``)
14    local file system error (permission denied, disk full, ...)
15    a tree transfer (``put -r``/``get -r``) finished with some files failed
      (``incomplete``): the result lists them; run the command again for them
130   interrupted (Ctrl-C); an interrupted ``put``/``get`` resumes when run again
====  ==========================================================================
"""

from __future__ import annotations

from client.errors import ProtocolError, ServerError, TaskFailed, TransferIncomplete
from common.errors import (
    ChecksumMismatch,
    ChunkCorrupt,
    Conflict,
    EchoError,
    Forbidden,
    Gone,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    StorageFull,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
)

__all__ = ["EXIT_BY_CLASS", "INCOMPLETE", "INTERRUPTED", "LOCAL_IO", "UNEXPECTED", "USAGE",
           "exit_code_of"]

UNEXPECTED = 1
USAGE = 2
LOCAL_IO = 14
INCOMPLETE = 15
INTERRUPTED = 130

EXIT_BY_CLASS: dict[type[EchoError], int] = {
    ServerError: 1,
    ProtocolError: 1,
    TaskFailed: 1,
    TransferIncomplete: INCOMPLETE,
    ChecksumMismatch: 13,  # before InvalidInput, its base: the MRO walk finds it first
    ChunkCorrupt: 13,
    InvalidInput: 3,
    Unauthenticated: 4,
    Forbidden: 5,
    NotFound: 6,
    Conflict: 7,
    Gone: 8,
    PreconditionFailed: 9,
    PayloadTooLarge: 10,
    StorageFull: 10,
    TooManyRequests: 11,
    Unavailable: 12,
}


def exit_code_of(error: EchoError) -> int:
    """The exit code of ``error``'s nearest class in the table (1 when none)."""
    for cls in type(error).__mro__:
        if cls in EXIT_BY_CLASS:
            return EXIT_BY_CLASS[cls]
    return UNEXPECTED
