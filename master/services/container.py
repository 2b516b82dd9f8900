"""Everything a request handler may use, built once at start (no aiohttp types here)."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from common.cluster_auth import ClusterIdentity
from common.config import MasterSettings
from master.cluster.modes import ModeOracle
from master.cluster.registry import WorkerRegistry
from master.metadata.files import FilesRepository
from master.metadata.pool import Database
from master.metadata.replicas import RepairQueue, ReplicasRepository
from master.metadata.workers import WorkersRepository
from master.metrics import MasterMetrics
from master.services.auth import AuthService
from master.services.downloads import DownloadService
from master.services.sessions import SessionService
from master.services.tus import TusService
from master.services.uploads import UploadService

__all__ = ["Services"]


@dataclass(frozen=True)
class Services:
    settings: MasterSettings
    metrics: MasterMetrics
    db: Database
    redis: aioredis.Redis
    identity: ClusterIdentity
    auth: AuthService
    files: FilesRepository
    replicas: ReplicasRepository
    repair_queue: RepairQueue
    workers: WorkersRepository
    registry: WorkerRegistry
    modes: ModeOracle
    uploads: UploadService
    downloads: DownloadService
    sessions: SessionService
    tus: TusService
