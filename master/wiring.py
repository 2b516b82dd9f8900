"""How the master's composition root (``master.app``) builds the S3 gateway's services,
the API-key sealer and the chunk memory budgets: kept apart so ``app.py`` stays the list
of parts and their order."""

from __future__ import annotations

import logging

from common.byte_budget import ByteBudget
from common.config import MasterSettings
from master.metadata.buckets import BucketsRepository
from master.metadata.files import FilesRepository
from master.metadata.multipart import MultipartRepository
from master.metadata.namespace import NamespaceRepository
from master.metadata.objects import ObjectsRepository
from master.metadata.pool import Database
from master.metadata.replicas import ReplicasRepository
from master.metrics import MasterMetrics
from master.replication.chunk_cache import ChunkCache
from master.services.access import BucketAccess
from master.services.api_keys import ApiKeyService
from master.services.audit import AuditService
from master.services.downloads import DownloadService
from master.services.gateway import GatewayServices
from master.services.multipart import MultipartService
from master.services.object_listing import ObjectListing
from master.services.objects import ObjectLimits, ObjectService
from master.services.s3_keys import GatewayKeys
from master.services.secret_box import SecretBox
from master.services.sessions import SessionService
from master.services.uploads import UploadService

__all__ = ["chunk_memory", "gateway_services", "secret_box"]

log = logging.getLogger(__name__)


def gateway_services(
    db: Database, settings: MasterSettings, access: BucketAccess, files: FilesRepository,
    namespace: NamespaceRepository, replicas: ReplicasRepository, uploads: UploadService,
    downloads: DownloadService, sessions: SessionService, metrics: MasterMetrics,
    api_keys: ApiKeyService, audit: AuditService,
) -> GatewayServices:
    """The S3 gateway's services (DESIGN §17), on the same repositories as the rest."""
    limits = ObjectLimits(chunk_size=settings.chunk_size,
                          replication_factor=settings.replication_factor,
                          pipeline_depth=settings.upload_pipeline_depth,
                          max_upload_bytes=settings.max_upload_bytes)
    objects = ObjectsRepository(db)
    return GatewayServices(
        objects=ObjectService(access, BucketsRepository(db), objects, files, namespace,
                              replicas, uploads, metrics, limits, audit),
        listing=ObjectListing(access, objects),
        multipart=MultipartService(access, sessions, MultipartRepository(db), files,
                                   replicas, uploads, downloads, limits),
        keys=GatewayKeys(api_keys),
    )


def chunk_memory(metrics: MasterMetrics, capacity: int, pool: str) -> ByteBudget:
    """One of the master's chunk memory budgets, published as
    ``echofs_chunk_memory_bytes{pool}`` and ``echofs_chunk_memory_waits_total{pool}``."""
    waits = metrics.chunk_memory_waits.labels(pool)
    budget = ByteBudget(capacity, pool, on_wait=waits.inc)
    metrics.chunk_memory.labels(pool).set_function(lambda: budget.in_use)
    return budget


def chunk_cache(metrics: MasterMetrics, settings: MasterSettings) -> ChunkCache:
    """The master's cache of small chunks, published as
    ``echofs_chunk_memory_bytes{pool="chunk_cache"}`` and
    ``echofs_chunk_cache_lookups_total{result="hit"|"miss"}``."""
    hits = metrics.chunk_cache_lookups.labels("hit")
    misses = metrics.chunk_cache_lookups.labels("miss")

    def counted(hit: bool) -> None:
        (hits if hit else misses).inc()

    cache = ChunkCache(settings.chunk_cache_bytes, settings.chunk_cache_max_chunk_bytes,
                       on_lookup=counted)
    metrics.chunk_memory.labels("chunk_cache").set_function(lambda: cache.bytes_held)
    return cache


def secret_box(settings: MasterSettings) -> SecretBox | None:
    """What seals API key secrets; None (no new keys) without KEY_ENCRYPTION_KEY."""
    if not settings.key_encryption_key:
        log.warning("KEY_ENCRYPTION_KEY is not set: API keys cannot be created")
        return None
    return SecretBox(settings.key_encryption_key)
