"""Typed settings, read once from the environment at start, frozen, passed down.

Every service builds its settings object in its ``main()`` and hands it to what it
constructs; nothing below this module reads the environment. Each field's env var is
its name in upper case (``chunk_size`` <- ``CHUNK_SIZE``). The README's configuration
table lists every variable; ``tests/unit/common/test_config.py`` keeps the two in step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "ALL_SETTINGS",
    "ClusterIdentitySettings",
    "ControllerSettings",
    "EmbeddedSettings",
    "MasterSettings",
    "WorkerSettings",
    "env_var_names",
]

KiB = 1024
MiB = 1024 * KiB
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class _Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    log_level: LogLevel = Field("INFO", description="Log threshold for JSON logs.")
    var_dir: Path = Field(
        Path("var"), description="Where embedded services and local worker data live."
    )

    dev_mode: bool = Field(
        False, description="Allow empty or well-known secrets (local experiments only)."
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class EmbeddedSettings(_Settings):
    """Where PostgreSQL and Redis are; empty means "start an embedded one under VAR_DIR"."""

    database_url: str = Field("", description="PostgreSQL URL; unset starts an embedded one.")
    redis_url: str = Field("", description="Redis URL; unset starts an embedded one.")


class ClusterIdentitySettings(_Settings):
    """What proves membership of the cluster (DESIGN.md §15).

    ``CLUSTER_SECRET`` signs every worker RPC and every cluster HTTP call (registration,
    heartbeats, controller writes); the three ``CLUSTER_TLS_*`` files, all or none, turn
    on mutual TLS between master, controller and workers with the cluster's own CA.
    """

    cluster_secret: str = Field(
        "", description="Cluster secret: signs worker RPCs and cluster HTTP calls."
    )
    cluster_tls_ca_file: Path | None = Field(
        None, description="Cluster CA certificate (PEM); with the two below: mutual TLS."
    )
    cluster_tls_cert_file: Path | None = Field(
        None, description="This process's certificate (PEM), issued by the cluster CA."
    )
    cluster_tls_key_file: Path | None = Field(
        None, description="The private key of CLUSTER_TLS_CERT_FILE (PEM)."
    )


class MasterSettings(EmbeddedSettings, ClusterIdentitySettings):
    master_host: str = Field("127.0.0.1", description="Master HTTP bind address.")
    master_port: int = Field(8080, ge=0, le=65535, description="Master HTTP port.")
    jwt_secret: str = Field("", description="HS256 key for JWTs (at least 32 characters).")
    jwt_ttl_seconds: int = Field(3600, gt=0, description="Lifetime of an issued JWT.")
    tls_cert_file: Path | None = Field(
        None, description="Certificate chain (PEM) for HTTPS; with TLS_KEY_FILE."
    )
    tls_key_file: Path | None = Field(None, description="Private key (PEM) for HTTPS.")
    login_max_failures: int = Field(
        5, ge=1, description="Failed logins of one username within the window before 429."
    )
    login_max_failures_per_address: int = Field(
        30, ge=1, description="Failed logins from one client address within the window."
    )
    login_window_seconds: int = Field(
        300, ge=1, description="Failed-login counting window (and lockout), seconds."
    )
    # Access (DESIGN §12, master/services/rate_limits.py and api_keys.py).
    rate_limit_per_user: int = Field(
        10_000, ge=0, description="Requests per window one user may make (all masters); 0 = off."
    )
    rate_limit_per_key: int = Field(
        5_000, ge=0, description="Requests per window one API key may make; 0 = off."
    )
    rate_limit_window_seconds: int = Field(
        10, ge=1, le=3600, description="Request rate window, seconds (aligned to the clock)."
    )
    key_encryption_key: str = Field(
        "", description="Seals API key secrets at rest (>= 32 characters); empty: no new keys."
    )
    chunk_size: int = Field(4 * MiB, ge=64 * 1024, le=64 * MiB, description="Chunk size, bytes.")
    replication_factor: int = Field(3, ge=1, le=9, description="Replicas per chunk (N).")
    zstd_level: int = Field(1, ge=-7, le=22, description="zstd level for chunks.")
    controller_url: str = Field(
        "http://127.0.0.1:8082", description="Consistency controller base URL."
    )
    max_upload_bytes: int = Field(
        1024**4, gt=0, description="Largest accepted upload body, bytes."
    )
    upload_pipeline_depth: int = Field(
        4, ge=1, le=64, description="Chunks of one upload in flight at once."
    )
    upload_memory_bytes: int = Field(
        32 * 1024**2, ge=64 * 1024,
        description="Chunk bytes all uploads together may hold in flight (a master-wide"
        " bound; an upload past it waits, and so does its client).",
    )
    late_copy_memory_bytes: int = Field(
        32 * 1024**2, ge=64 * 1024,
        description="Chunk bytes replica puts still running after their upload was"
        " acknowledged may hold; a chunk past it leaves its late copies to repair.",
    )
    chunk_cache_bytes: int = Field(
        16 * 1024**2, ge=0,
        description="Memory for the master's cache of small chunks it just stored or read"
        " (verified bytes by content id, least recently used out first); 0 = off.",
    )
    chunk_cache_max_chunk_bytes: int = Field(
        64 * 1024, ge=0, le=4 * 1024**2,
        description="Largest chunk the master's chunk cache keeps, bytes.",
    )
    download_readahead_chunks: int = Field(
        2, ge=1, le=32, description="Chunks fetched ahead of the one being streamed."
    )
    grpc_timeout_seconds: float = Field(30.0, gt=0, description="Deadline for one chunk RPC.")
    read_timeout_seconds: float = Field(
        5.0, gt=0, description="Deadline for reading one chunk before trying the next replica."
    )
    probe_interval_seconds: float = Field(2.0, gt=0, description="Health probe period.")
    session_ttl_seconds: float = Field(
        86400.0, gt=0, description="How long an unfinished upload session lives."
    )
    max_open_sessions_per_user: int = Field(
        16, ge=1, description="Open upload sessions one user may have."
    )
    probe_timeout_seconds: float = Field(1.0, gt=0, description="Deadline of one probe.")
    worker_down_after_seconds: float = Field(
        6.0, gt=0, description="No successful probe for this long: the worker is down."
    )
    repair_grace_seconds: float = Field(
        30.0, ge=0, description="A worker down this long has its chunks re-replicated."
    )
    gc_grace_seconds: float = Field(
        3600.0, ge=0, description="An unreferenced chunk is deleted only after this long."
    )
    gc_interval_seconds: float = Field(60.0, gt=0, description="Pause between GC passes.")
    gc_safety_margin_seconds: float = Field(
        60.0, ge=0, description="Extra age a blob must have before GC deletes it (clock skew)."
    )
    repair_interval_seconds: float = Field(
        1.0, gt=0, description="Pause between repair-queue passes."
    )
    background_busy_share: float = Field(
        0.25, gt=0, le=1.0,
        description=(
            "Share of wall time repair and GC batches may take while client requests are "
            "in flight or recent (smaller batches then); idle, they run back to back."
        ),
    )
    background_recent_seconds: float = Field(
        1.0, ge=0, description="A client request this recent still counts as traffic."
    )
    admin_users: str = Field(
        "", description="Comma-separated usernames that are admins from registration."
    )
    lease_ttl_seconds: float = Field(
        10.0, ge=0.3, description="Singleton job lease (repair, GC, ...): renewed every third."
    )
    link_max_expiry_s: int = Field(
        7 * 86400, ge=1, le=10 * 365 * 86400,
        description="Longest expires_in_s a download link may ask for (default 7 days).",
    )
    # The change feed and webhooks (DESIGN §13).
    events_retention_s: float = Field(
        7 * 86400.0, gt=0, description="Events older than this are pruned (410 cursor_expired)."
    )
    events_max_wait_s: float = Field(
        60.0, ge=0, le=3600, description="Longest a long poll of /api/v1/events waits."
    )
    events_recheck_s: float = Field(
        1.0, gt=0, le=60, description="Feed re-read period when no notification arrives."
    )
    webhook_allowed_hosts: str = Field(
        "", description="Comma-separated hosts (host, host:port, *.domain) webhooks may target."
    )
    webhook_timeout_s: float = Field(
        10.0, gt=0, le=300, description="Deadline of one webhook POST (connect to answer)."
    )
    webhook_retry_max_s: float = Field(
        300.0, gt=0, description="Cap of the exponential backoff between failed deliveries."
    )
    # The S3 gateway (DESIGN §17): served by the master process on its own port.
    s3_port: int = Field(
        8333, ge=0, le=65535, description="S3 gateway port (on MASTER_HOST); 0 = no gateway."
    )
    s3_domain: str = Field(
        "localhost",
        description="Virtual-hosted-style base domain: Host <bucket>.<domain> names a bucket.",
    )
    s3_gateway_region: str = Field(
        "us-east-1", min_length=1, description="Region the S3 gateway reports for buckets."
    )
    s3_max_skew_seconds: int = Field(
        900, ge=1, le=86400, description="Largest accepted clock skew of a signed S3 request."
    )


class WorkerSettings(ClusterIdentitySettings):
    worker_id: str = Field("worker-1", min_length=1, max_length=64, description="Worker id.")
    worker_host: str = Field("127.0.0.1", description="gRPC bind address.")
    worker_port: int = Field(9000, ge=0, le=65535, description="gRPC port.")
    worker_advertise_address: str = Field(
        "", description="host:port the master dials; default WORKER_HOST:WORKER_PORT."
    )
    worker_metrics_port: int = Field(
        0, ge=0, le=65535,
        description="Prometheus port; 0 = WORKER_PORT + 100 (any free port if WORKER_PORT is 0).",
    )
    worker_health_port: int = Field(
        0, ge=0, le=65535,
        description="Plaintext grpc.health.v1-only port when TLS is on; 0 = WORKER_PORT + 200.",
    )
    worker_identity_file: Path | None = Field(
        None, description="This worker's registration key; default VAR_DIR/workers/ID.identity."
    )
    worker_backend: Literal["local", "s3", "memory"] = Field(
        "local", description="Where blobs are stored."
    )
    worker_volumes: bool = Field(
        True, description="Local backend: small blobs as needles in volume files."
    )
    worker_volume_max_blob_bytes: int = Field(
        256 * KiB, ge=0, le=64 * MiB,
        description="Largest blob (stored bytes) put in a volume; larger ones get a file.",
    )
    worker_volume_size_bytes: int = Field(
        1024 * MiB, ge=MiB, description="A volume file is sealed once it reaches this size."
    )
    worker_volume_compact_garbage_ratio: float = Field(
        0.3, gt=0, le=1.0,
        description="Compact a volume when this share of it is garbage; 1 disables it.",
    )
    worker_volume_compact_min_garbage_bytes: int = Field(
        4 * MiB, ge=0, description="Do not compact a volume for less garbage than this."
    )
    worker_volume_compact_interval_seconds: float = Field(
        30.0, gt=0, description="Pause between two compaction passes."
    )
    worker_data_dir: Path = Field(
        Path(""), description="Local backend folder; default VAR_DIR/workers/WORKER_ID."
    )
    worker_zone: str = Field("", description="Failure zone, for replica spreading.")
    worker_capacity_bytes: int = Field(
        0, ge=0, description="Advertised capacity; 0 = free disk space."
    )
    worker_max_concurrency: int = Field(
        16, ge=1, description="Concurrent disk/S3 operations."
    )
    worker_scrub_bytes_per_second: int = Field(
        50 * MiB, ge=0, description="Scrubber read rate; 0 disables scrubbing."
    )
    worker_background_idle_share: float = Field(
        0.5, gt=0, le=1.0,
        description=(
            "Share of wall time the scrubber and compaction may take while no client RPC "
            "is in flight or recent."
        ),
    )
    worker_background_busy_share: float = Field(
        0.02, gt=0, le=1.0,
        description="The same share while client RPCs are in flight or recent.",
    )
    worker_background_recent_seconds: float = Field(
        1.0, ge=0, description="A client RPC this recent still counts as traffic."
    )
    worker_compact_bytes_per_second: int = Field(
        32 * MiB, ge=0, description="Compaction write rate; 0 = no byte cap."
    )
    worker_slow_ms: int = Field(
        0, ge=0, le=60_000,
        description=(
            "Experiments only: delay every RPC by this much after SIGUSR1 (SIGUSR2 ends it)."
        ),
    )
    worker_scrub_pause_seconds: float = Field(
        60.0, gt=0, description="Pause between two scrubber passes."
    )
    master_url: str = Field(
        "", description="Master base URL for registration/heartbeat; empty = standalone."
    )
    heartbeat_interval_seconds: float = Field(5.0, gt=0, description="Heartbeat period.")
    s3_bucket: str = Field("echofs", description="S3 bucket for the s3 backend.")
    s3_prefix: str = Field("chunks/", description="Key prefix inside the bucket.")
    s3_endpoint_url: str = Field("", description="S3 endpoint (MinIO, SeaweedFS, moto).")
    s3_region: str = Field("us-east-1", description="S3 region.")
    s3_access_key_id: str = Field("", description="S3 access key; empty = boto3 default chain.")
    s3_secret_access_key: str = Field("", description="S3 secret key.")


class ControllerSettings(EmbeddedSettings, ClusterIdentitySettings):
    controller_host: str = Field("127.0.0.1", description="Controller HTTP bind address.")
    controller_port: int = Field(8082, ge=0, le=65535, description="Controller HTTP port.")
    jwt_secret: str = Field(
        "", description="The masters' JWT key: admin tokens may write to the controller."
    )
    mode_ttl_seconds: float = Field(5.0, gt=0, description="How long masters cache a mode.")
    evaluation_interval_seconds: float = Field(
        1.0, gt=0, description="Period of the decision loop."
    )
    controller_probe_timeout_seconds: float = Field(
        0.5, gt=0, description="Deadline of the controller's grpc.health.v1 probe of a worker."
    )
    replication_lag_grace_seconds: float = Field(
        2.0, ge=0, description="Repair items younger than this are not replication lag."
    )
    active_object_window_seconds: float = Field(
        300.0, gt=0,
        description="Files written again (overwritten, a new version) within this window get"
        " a per-object mode.",
    )
    decision_retention_seconds: float = Field(
        7 * 86400.0, gt=0, description="How long decision history rows are kept."
    )
    # The same variable the master reads: partition risk is measured against C's quorum.
    replication_factor: int = Field(3, ge=1, le=9, description="Replicas per chunk (N).")
    lease_ttl_seconds: float = Field(
        10.0, ge=0.3, description="Lease of the one active evaluation loop: renewed every third."
    )
    controller_latency_budget_seconds: float = Field(
        1.0, gt=0, description="A C write expected slower than this may move writes to A."
    )
    controller_startup_grace_seconds: float = Field(
        15.0, ge=0, description="A worker not heard from since start counts as unknown this long."
    )
    # The same variable the master reads: the durability model's time to detect adds it.
    repair_grace_seconds: float = Field(
        30.0, ge=0, description="A worker down this long has its chunks re-replicated."
    )


ALL_SETTINGS: tuple[type[_Settings], ...] = (
    EmbeddedSettings,
    ClusterIdentitySettings,
    MasterSettings,
    WorkerSettings,
    ControllerSettings,
)


def env_var_names() -> set[str]:
    """Every environment variable any service reads."""
    return {name.upper() for cls in ALL_SETTINGS for name in cls.model_fields}
