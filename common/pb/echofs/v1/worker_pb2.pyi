from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Codec(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CODEC_UNSPECIFIED: _ClassVar[Codec]
    CODEC_RAW: _ClassVar[Codec]
    CODEC_ZSTD: _ClassVar[Codec]
CODEC_UNSPECIFIED: Codec
CODEC_RAW: Codec
CODEC_ZSTD: Codec

class ChunkHeader(_message.Message):
    __slots__ = ("chunk_id", "codec", "raw_size", "stored_size", "blob_sha256")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    RAW_SIZE_FIELD_NUMBER: _ClassVar[int]
    STORED_SIZE_FIELD_NUMBER: _ClassVar[int]
    BLOB_SHA256_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    codec: Codec
    raw_size: int
    stored_size: int
    blob_sha256: str
    def __init__(self, chunk_id: _Optional[str] = ..., codec: _Optional[_Union[Codec, str]] = ..., raw_size: _Optional[int] = ..., stored_size: _Optional[int] = ..., blob_sha256: _Optional[str] = ...) -> None: ...

class PutChunkRequest(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: ChunkHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[ChunkHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class PutChunkResponse(_message.Message):
    __slots__ = ("chunk_id", "already_present", "stored_size")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    ALREADY_PRESENT_FIELD_NUMBER: _ClassVar[int]
    STORED_SIZE_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    already_present: bool
    stored_size: int
    def __init__(self, chunk_id: _Optional[str] = ..., already_present: _Optional[bool] = ..., stored_size: _Optional[int] = ...) -> None: ...

class SmallBlob(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: ChunkHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[ChunkHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class PutChunksRequest(_message.Message):
    __slots__ = ("blobs",)
    BLOBS_FIELD_NUMBER: _ClassVar[int]
    blobs: _containers.RepeatedCompositeFieldContainer[SmallBlob]
    def __init__(self, blobs: _Optional[_Iterable[_Union[SmallBlob, _Mapping]]] = ...) -> None: ...

class PutChunkOutcome(_message.Message):
    __slots__ = ("chunk_id", "status_code", "error", "already_present", "stored_size")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ALREADY_PRESENT_FIELD_NUMBER: _ClassVar[int]
    STORED_SIZE_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    status_code: int
    error: str
    already_present: bool
    stored_size: int
    def __init__(self, chunk_id: _Optional[str] = ..., status_code: _Optional[int] = ..., error: _Optional[str] = ..., already_present: _Optional[bool] = ..., stored_size: _Optional[int] = ...) -> None: ...

class PutChunksResponse(_message.Message):
    __slots__ = ("outcomes",)
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedCompositeFieldContainer[PutChunkOutcome]
    def __init__(self, outcomes: _Optional[_Iterable[_Union[PutChunkOutcome, _Mapping]]] = ...) -> None: ...

class GetChunkRequest(_message.Message):
    __slots__ = ("chunk_id", "offset", "length", "caller_verifies")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    CALLER_VERIFIES_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    offset: int
    length: int
    caller_verifies: bool
    def __init__(self, chunk_id: _Optional[str] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ..., caller_verifies: _Optional[bool] = ...) -> None: ...

class GetChunkResponse(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: ChunkHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[ChunkHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class WantedChunk(_message.Message):
    __slots__ = ("chunk_id", "max_bytes")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    max_bytes: int
    def __init__(self, chunk_id: _Optional[str] = ..., max_bytes: _Optional[int] = ...) -> None: ...

class GetChunksRequest(_message.Message):
    __slots__ = ("chunks", "caller_verifies")
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    CALLER_VERIFIES_FIELD_NUMBER: _ClassVar[int]
    chunks: _containers.RepeatedCompositeFieldContainer[WantedChunk]
    caller_verifies: bool
    def __init__(self, chunks: _Optional[_Iterable[_Union[WantedChunk, _Mapping]]] = ..., caller_verifies: _Optional[bool] = ...) -> None: ...

class GetChunkOutcome(_message.Message):
    __slots__ = ("chunk_id", "status_code", "error", "header", "data")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    status_code: int
    error: str
    header: ChunkHeader
    data: bytes
    def __init__(self, chunk_id: _Optional[str] = ..., status_code: _Optional[int] = ..., error: _Optional[str] = ..., header: _Optional[_Union[ChunkHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class GetChunksResponse(_message.Message):
    __slots__ = ("outcomes",)
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedCompositeFieldContainer[GetChunkOutcome]
    def __init__(self, outcomes: _Optional[_Iterable[_Union[GetChunkOutcome, _Mapping]]] = ...) -> None: ...

class DeleteChunkRequest(_message.Message):
    __slots__ = ("chunk_id", "unless_written_within_seconds")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    UNLESS_WRITTEN_WITHIN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    unless_written_within_seconds: float
    def __init__(self, chunk_id: _Optional[str] = ..., unless_written_within_seconds: _Optional[float] = ...) -> None: ...

class DeleteChunkResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: _Optional[bool] = ...) -> None: ...

class HasChunksRequest(_message.Message):
    __slots__ = ("chunk_ids",)
    CHUNK_IDS_FIELD_NUMBER: _ClassVar[int]
    chunk_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, chunk_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class HasChunksResponse(_message.Message):
    __slots__ = ("present",)
    PRESENT_FIELD_NUMBER: _ClassVar[int]
    present: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, present: _Optional[_Iterable[bool]] = ...) -> None: ...

class ReplicateChunkRequest(_message.Message):
    __slots__ = ("chunk_id", "target_address", "deadline_seconds")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    target_address: str
    deadline_seconds: float
    def __init__(self, chunk_id: _Optional[str] = ..., target_address: _Optional[str] = ..., deadline_seconds: _Optional[float] = ...) -> None: ...

class ReplicateChunkResponse(_message.Message):
    __slots__ = ("chunk_id", "stored_size", "already_present")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    STORED_SIZE_FIELD_NUMBER: _ClassVar[int]
    ALREADY_PRESENT_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    stored_size: int
    already_present: bool
    def __init__(self, chunk_id: _Optional[str] = ..., stored_size: _Optional[int] = ..., already_present: _Optional[bool] = ...) -> None: ...

class ListChunksRequest(_message.Message):
    __slots__ = ("after_chunk_id", "batch_size")
    AFTER_CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    after_chunk_id: str
    batch_size: int
    def __init__(self, after_chunk_id: _Optional[str] = ..., batch_size: _Optional[int] = ...) -> None: ...

class ChunkInfo(_message.Message):
    __slots__ = ("chunk_id", "stored_size", "mtime")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    STORED_SIZE_FIELD_NUMBER: _ClassVar[int]
    MTIME_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    stored_size: int
    mtime: float
    def __init__(self, chunk_id: _Optional[str] = ..., stored_size: _Optional[int] = ..., mtime: _Optional[float] = ...) -> None: ...

class ListChunksResponse(_message.Message):
    __slots__ = ("chunks",)
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    chunks: _containers.RepeatedCompositeFieldContainer[ChunkInfo]
    def __init__(self, chunks: _Optional[_Iterable[_Union[ChunkInfo, _Mapping]]] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("worker_id", "zone", "capacity_bytes", "used_bytes", "chunk_count", "inflight_requests", "corrupt_blobs_found", "draining", "backend")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_BYTES_FIELD_NUMBER: _ClassVar[int]
    USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    INFLIGHT_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    CORRUPT_BLOBS_FOUND_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    zone: str
    capacity_bytes: int
    used_bytes: int
    chunk_count: int
    inflight_requests: int
    corrupt_blobs_found: int
    draining: bool
    backend: str
    def __init__(self, worker_id: _Optional[str] = ..., zone: _Optional[str] = ..., capacity_bytes: _Optional[int] = ..., used_bytes: _Optional[int] = ..., chunk_count: _Optional[int] = ..., inflight_requests: _Optional[int] = ..., corrupt_blobs_found: _Optional[int] = ..., draining: _Optional[bool] = ..., backend: _Optional[str] = ...) -> None: ...
