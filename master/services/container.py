"""Everything a request handler may use, built once at start (no aiohttp types here).

Handlers reach the master only through these services (plus settings and metrics):
no repository, pool, Redis client or worker registry is handed to the HTTP edge.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.config import MasterSettings
from master.metrics import MasterMetrics
from master.services.api_keys import ApiKeyService
from master.services.audit import AuditService
from master.services.auth import AuthService
from master.services.buckets import BucketService
from master.services.cluster import ClusterService
from master.services.consistency import ConsistencyService
from master.services.downloads import DownloadService
from master.services.events import EventService
from master.services.files import FileService
from master.services.gateway import GatewayServices
from master.services.groups import GroupService
from master.services.links import LinkService
from master.services.namespace import NamespaceService
from master.services.quotas import QuotaService
from master.services.rate_limits import RequestRateLimiter
from master.services.sessions import SessionService
from master.services.shares import ShareService
from master.services.tus import TusService
from master.services.uploads import UploadService
from master.services.web_sessions import WebSessions
from master.services.webhooks import WebhookService

__all__ = ["Services"]


@dataclass(frozen=True)
class Services:
    settings: MasterSettings
    metrics: MasterMetrics
    auth: AuthService
    files: FileService
    cluster: ClusterService
    uploads: UploadService
    downloads: DownloadService
    sessions: SessionService
    tus: TusService
    buckets: BucketService
    namespace: NamespaceService
    audit: AuditService
    links: LinkService
    # Access (DESIGN §12): groups, shares, API keys, request rate limits.
    groups: GroupService
    shares: ShareService
    api_keys: ApiKeyService
    rate_limits: RequestRateLimiter
    quotas: QuotaService
    events: EventService
    webhooks: WebhookService
    gateway: GatewayServices  # the S3 gateway's use cases (master/s3, DESIGN §17)
    # The web UI (master/ui, DESIGN §18): the controller explained, browser sessions.
    consistency: ConsistencyService
    web_sessions: WebSessions
