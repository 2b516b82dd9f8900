"""Assemble the master: one cleanup_ctx per resource, torn down in reverse order."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from psycopg.conninfo import conninfo_to_dict

from common.cluster_auth import ClusterIdentity
from common.config import MasterSettings
from common.loops import run_loop
from common.pacing import ForegroundActivity, Pacer, PacingConfig
from common.singleton import holder_id
from common.tasks import BackgroundTasks
from master.api import (
    openapi,
    routes_access,
    routes_admin,
    routes_auth,
    routes_buckets,
    routes_cluster,
    routes_events,
    routes_files,
    routes_fs,
    routes_keys,
    routes_links,
    routes_sessions,
    routes_tus,
    routes_webhooks,
)
from master.api.common import SERVICES
from master.api.middleware import FOREGROUND, auth_gate, json_errors, request_context
from master.background.event_pump import EventPump, EventWaker
from master.background.gc import GarbageCollector
from master.background.membership import MembershipKeeper
from master.background.namespace_tasks import NamespaceTaskRunner, RetentionSweeper
from master.background.observations import ObservationReporter
from master.background.repair import Repairer
from master.background.singleton import SingletonJobs
from master.background.tasks import run_periodically
from master.background.webhook_delivery import (
    WEBHOOK_PASS_GAP_S,
    DeliveryPolicy,
    HttpWebhookPoster,
    WebhookDelivery,
)
from master.cluster.controller_client import ControllerClient
from master.cluster.grpc_worker_client import grpc_worker_clients
from master.cluster.modes import ModeOracle
from master.cluster.prober import Prober
from master.cluster.put_batcher import SmallWritesUnderWay
from master.cluster.registry import WorkerRegistry
from master.domain.webhook_targets import AllowedHosts
from master.metadata.api_keys import ApiKeysRepository
from master.metadata.audit import AuditRepository
from master.metadata.buckets import BucketsRepository
from master.metadata.chunk_access import ChunkAccessRepository
from master.metadata.event_feed import EventFeedRepository
from master.metadata.files import FilesRepository
from master.metadata.gc import GcRepository
from master.metadata.groups import GroupsRepository
from master.metadata.leases import LeasesRepository
from master.metadata.links import LinksRepository
from master.metadata.listings import ListingsRepository
from master.metadata.namespace import NamespaceRepository
from master.metadata.observations import ObservationsRepository
from master.metadata.pool import open_database
from master.metadata.replicas import RepairQueue, ReplicasRepository
from master.metadata.sessions import SessionsRepository
from master.metadata.shares import SharesRepository
from master.metadata.tasks import TasksRepository
from master.metadata.usage import UsageRepository
from master.metadata.users import UsersRepository
from master.metadata.webhooks import WebhooksRepository
from master.metadata.workers import WorkersRepository
from master.metrics import MasterMetrics
from master.replication.observations import WriteObservations
from master.replication.writer import ChunkWriter
from master.services.access import BucketAccess
from master.services.api_keys import ApiKeyService
from master.services.audit import AuditService
from master.services.auth import AuthService
from master.services.buckets import BucketService
from master.services.cluster import ClusterService
from master.services.consistency import ConsistencyService
from master.services.container import Services
from master.services.downloads import DownloadService
from master.services.events import EventService
from master.services.files import FileService
from master.services.groups import GroupService
from master.services.links import LinkService
from master.services.login_limiter import (
    LoginLimiter,
    LoginLimits,
    MemoryFailureCounter,
    RedisFailureCounter,
)
from master.services.namespace import NamespaceService
from master.services.quotas import QuotaService
from master.services.rate_limits import RateLimits, RedisWindowStore, RequestRateLimiter
from master.services.sessions import SessionLimits, SessionService
from master.services.shares import ShareService
from master.services.tus import TusService
from master.services.uploads import UploadLimits, UploadService
from master.services.web_sessions import CookiePolicy, WebSessions
from master.services.webhook_secrets import WebhookSecrets
from master.services.webhooks import WebhookService
from master.ui import session_middleware, setup_ui
from master.wiring import chunk_cache, chunk_memory, gateway_services, secret_box

__all__ = ["build_app"]

log = logging.getLogger(__name__)


def build_app(settings: MasterSettings) -> web.Application:
    # Uploads are streamed by the handlers, so the body cap only guards request.read().
    # The web UI's session middleware turns its cookie into the API's bearer token, so it
    # sits just before the auth gate (master/ui/middleware.py).
    app = web.Application(
        middlewares=[request_context, json_errors, session_middleware, auth_gate],
        client_max_size=1024 * 1024)
    app.add_routes(routes_auth.routes)
    app.add_routes(routes_cluster.routes)
    app.add_routes(routes_sessions.routes)
    app.add_routes(routes_tus.routes)
    app.add_routes(routes_files.routes)
    app.add_routes(routes_fs.routes)
    app.add_routes(routes_buckets.routes)
    app.add_routes(openapi.routes)
    app.add_routes(routes_admin.routes)
    app.add_routes(routes_links.routes)
    app.add_routes(routes_access.routes)
    app.add_routes(routes_keys.routes)
    app.add_routes(routes_events.routes)
    app.add_routes(routes_webhooks.routes)
    app[FOREGROUND] = ForegroundActivity()  # the REST edge counts client requests
    setup_ui(app, SERVICES)
    app.cleanup_ctx.append(_services_ctx(settings))
    app.on_shutdown.append(_end_event_readers)
    return app


async def _end_event_readers(app: web.Application) -> None:
    """Long polls and event streams answer now instead of holding the shutdown."""
    if SERVICES in app:
        app[SERVICES].events.close()


def _services_ctx(settings: MasterSettings):  # type: ignore[no-untyped-def]
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            metrics = MasterMetrics.create()
            db = await open_database(settings.database_url)
            stack.push_async_callback(db.close)
            redis = aioredis.Redis.from_url(
                settings.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0
            )
            stack.push_async_callback(redis.aclose)
            http = aiohttp.ClientSession()
            stack.push_async_callback(http.close)

            workers = WorkersRepository(db)
            replicas = ReplicasRepository(db)
            stack.push_async_callback(replicas.close)
            files = FilesRepository(db)
            stack.push_async_callback(files.close)
            identity = ClusterIdentity.from_settings(settings)
            # Small writes under way: the ChunkWriter counts them, the workers' small-put
            # batches linger for them (master/cluster/put_batcher.py).
            small_writes = SmallWritesUnderWay()
            registry = WorkerRegistry(workers, grpc_worker_clients(
                identity, settings.grpc_timeout_seconds, settings.read_timeout_seconds,
                small_writes))
            stack.push_async_callback(registry.close)
            await registry.refresh()

            background = BackgroundTasks("master")
            late_writes = BackgroundTasks("late-replicas")
            stack.push_async_callback(background.close)
            stack.push_async_callback(late_writes.close)

            modes = ModeOracle(settings.controller_url, http)
            # What this master sees of its writes, published for the controller (issue 23).
            write_observations = WriteObservations()
            late_budget = chunk_memory(metrics, settings.late_copy_memory_bytes, "late_copies")
            writer = ChunkWriter(registry, replicas, metrics, settings.replication_factor,
                                 late_writes, observations=write_observations,
                                 late_budget=late_budget, small_writes=small_writes)
            limits = UploadLimits(
                chunk_size=settings.chunk_size, replication_factor=settings.replication_factor,
                zstd_level=settings.zstd_level, pipeline_depth=settings.upload_pipeline_depth,
                max_upload_bytes=settings.max_upload_bytes,
                memory=chunk_memory(metrics, settings.upload_memory_bytes, "uploads"),
            )
            admins = {u.strip() for u in settings.admin_users.split(",") if u.strip()}
            buckets_repo = BucketsRepository(db)
            stack.push_async_callback(buckets_repo.close)
            shares_repo = SharesRepository(db)
            access = BucketAccess(buckets_repo, shares_repo)
            namespace_repo = NamespaceRepository(db)
            tasks_repo = TasksRepository(db)
            small_chunks = chunk_cache(metrics, settings)
            uploads = UploadService(files, writer, modes, metrics, limits, buckets_repo, access,
                                    chunk_cache=small_chunks)
            downloads = DownloadService(files, replicas, registry, metrics,
                                        settings.download_readahead_chunks,
                                        chunk_cache=small_chunks)
            # AuditService is stateless: its own instance here keeps this block additive.
            quotas = QuotaService(UsageRepository(db), access, AuditService(AuditRepository(db)),
                                  early_check_min_bytes=settings.chunk_size)
            sessions_repo = SessionsRepository(db)
            sessions = SessionService(
                sessions_repo, files, replicas, uploads, downloads,
                SessionLimits(
                    default_chunk_size=settings.chunk_size,
                    replication_factor=settings.replication_factor,
                    max_upload_bytes=settings.max_upload_bytes,
                    max_open_sessions=settings.max_open_sessions_per_user,
                    ttl_s=settings.session_ttl_seconds,
                ),
                ChunkAccessRepository(db), access, quotas,
            )
            redis_scope = str(conninfo_to_dict(settings.database_url).get("dbname", ""))
            login_limiter = LoginLimiter(
                RedisFailureCounter(redis, scope=redis_scope),
                MemoryFailureCounter(),
                LoginLimits(max_failures_per_user=settings.login_max_failures,
                            max_failures_per_address=settings.login_max_failures_per_address,
                            window_s=settings.login_window_seconds),
            )
            repair_queue = RepairQueue(db)
            audit = AuditService(AuditRepository(db))
            users_repo = UsersRepository(db)
            groups_repo = GroupsRepository(db)
            api_keys = ApiKeyService(ApiKeysRepository(db), access, secret_box(settings), audit)
            event_feed = EventFeedRepository(db)
            waker = EventWaker()
            allowed_hosts = AllowedHosts.parse(settings.webhook_allowed_hosts)
            webhooks = WebhookService(
                WebhooksRepository(db), event_feed, access, buckets_repo, users_repo,
                WebhookSecrets(settings.cluster_secret), allowed_hosts, audit)
            services = Services(
                settings=settings, metrics=metrics,
                auth=AuthService(users_repo, settings.jwt_secret, settings.jwt_ttl_seconds,
                                 admins, login_limiter, audit, api_keys),
                files=FileService(files, replicas, metrics, access, namespace_repo),
                cluster=ClusterService(workers, replicas, repair_queue, files, registry, identity,
                                       db, redis, settings.replication_factor, audit),
                uploads=uploads, downloads=downloads, sessions=sessions,
                tus=TusService(sessions, sessions_repo, uploads, downloads, replicas, redis,
                               settings.replication_factor),
                buckets=BucketService(buckets_repo, access, namespace_repo, tasks_repo, audit,
                                      groups_repo),
                namespace=NamespaceService(access, ListingsRepository(db), namespace_repo,
                                           tasks_repo),
                audit=audit,
                links=LinkService(LinksRepository(db), files, access, audit,
                                  settings.link_max_expiry_s),
                groups=GroupService(groups_repo, users_repo, audit),
                shares=ShareService(access, shares_repo, users_repo, groups_repo, audit),
                api_keys=api_keys,
                rate_limits=RequestRateLimiter(
                    RedisWindowStore(redis, scope=redis_scope),
                    RateLimits(per_user=settings.rate_limit_per_user,
                               per_key=settings.rate_limit_per_key,
                               window_s=settings.rate_limit_window_seconds)),
                quotas=quotas,
                events=EventService(event_feed, access, waker,
                                    max_wait_s=settings.events_max_wait_s,
                                    recheck_s=settings.events_recheck_s),
                webhooks=webhooks,
                gateway=gateway_services(db, settings, access, files, namespace_repo, replicas,
                                 uploads, downloads, sessions, metrics, api_keys, audit),
                consistency=ConsistencyService(
                    ControllerClient(settings.controller_url, http, identity), audit),
                web_sessions=WebSessions(settings.jwt_secret, CookiePolicy(
                    secure=settings.tls_cert_file is not None,
                    session_ttl_s=settings.jwt_ttl_seconds)),
            )
            app[SERVICES] = services

            def count_failure(loop: str) -> None:
                metrics.background_errors.labels(loop).inc()

            reporter = ObservationReporter(registry, write_observations,
                                           ObservationsRepository(db),
                                           holder_id(settings.master_port))
            stack.push_async_callback(reporter.close)
            prober = Prober(registry, workers, metrics, settings.probe_interval_seconds,
                            timeout_s=settings.probe_timeout_seconds,
                            down_after_s=settings.worker_down_after_seconds,
                            on_recovered=repair_queue.wake_backed_off,
                            on_change=reporter.wake)
            background.spawn(prober.run_forever(), name="prober")
            background.spawn(modes.follow_changes(redis), name="mode-changes")
            # step() waits up to a second for a state change itself: no pause after it.
            background.spawn(
                run_loop(reporter.step, name="write observations", interval_s=0.05,
                         max_backoff_s=5.0, on_failure=count_failure),
                name="write-observations",
            )
            # Singleton jobs: each runs on one master at a time, under a fenced lease.
            singletons = SingletonJobs(LeasesRepository(db), metrics, background,
                                       holder=holder_id(settings.master_port),
                                       ttl_s=settings.lease_ttl_seconds,
                                       on_failure=count_failure)
            singletons.start("session-expiry", sessions.expire_once, 30.0)
            keeper = MembershipKeeper(workers, replicas, registry, settings.replication_factor,
                                      settings.repair_grace_seconds)
            singletons.start("membership", keeper.run_once, 2.0)
            # Repair and GC yield to client requests (common.pacing).
            pacer = Pacer(PacingConfig(busy_share=settings.background_busy_share,
                                       recent_s=settings.background_recent_seconds),
                          app[FOREGROUND],
                          on_rest=lambda work, s: metrics.background_rest.labels(work).inc(s))
            collector = GarbageCollector(GcRepository(db), registry, metrics,
                                         settings.gc_grace_seconds,
                                         safety_margin_s=settings.gc_safety_margin_seconds,
                                         pacer=pacer)
            singletons.start("gc", collector.run_once, settings.gc_interval_seconds)
            # Namespace tasks are claimed row by row (SKIP LOCKED) and the retention sweep
            # is idempotent: both run on every master, outside the singleton leases.
            task_runner = NamespaceTaskRunner(tasks_repo, namespace_repo)
            background.spawn(
                run_loop(task_runner.run_once, name="namespace tasks", interval_s=1.0,
                         on_failure=count_failure, delay_after=task_runner.pause_after),
                name="namespace-tasks",
            )
            background.spawn(
                run_periodically(RetentionSweeper(namespace_repo).run_once, 300.0,
                                 "retention", count_failure),
                name="retention",
            )
            # The change feed: number committed events and wake readers (every master),
            # prune past retention (idempotent), deliver webhooks (one master).
            pump = EventPump(event_feed, waker, conninfo=settings.database_url,
                             recheck_s=settings.events_recheck_s,
                             retention_s=settings.events_retention_s)
            background.spawn(pump.listen_forever(count_failure), name="event-listener")
            background.spawn(
                run_loop(pump.number_once, name="event numbering", interval_s=1.0,
                         on_failure=count_failure, delay_after=pump.delay_after),
                name="event-numbering",
            )
            background.spawn(
                run_periodically(pump.prune_once,
                                 min(60.0, max(0.5, settings.events_retention_s / 4)),
                                 "event retention", count_failure),
                name="event-retention",
            )
            webhook_http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=64), trust_env=False)
            stack.push_async_callback(webhook_http.close)
            delivery = WebhookDelivery(
                WebhooksRepository(db), event_feed,
                HttpWebhookPoster(webhook_http, allowed_hosts, settings.webhook_timeout_s),
                webhooks.delivery_target, waker,
                DeliveryPolicy(retry_max_s=settings.webhook_retry_max_s,
                               recheck_s=settings.events_recheck_s,
                               min_gap_s=WEBHOOK_PASS_GAP_S))
            # The step waits for work itself; 1 s is the base of its failure backoff.
            singletons.start("webhooks", delivery.run_once, 1.0,
                             delay_after=lambda _n: 0.0)
            repairer = Repairer(repair_queue, replicas, registry, metrics,
                                settings.replication_factor, observations=write_observations,
                                pacer=pacer)
            idle_s = settings.repair_interval_seconds
            singletons.start("repair", repairer.run_once, idle_s,
                             delay_after=lambda claimed: repairer.delay_after(claimed, idle_s))
            async def check_dependencies() -> None:
                metrics.dependency_up.labels("postgres").set(1.0 if await db.ping() else 0.0)
                try:
                    redis_ok = bool(await redis.ping())
                except Exception:  # any failure means "down" for this gauge
                    redis_ok = False
                metrics.dependency_up.labels("redis").set(1.0 if redis_ok else 0.0)

            background.spawn(
                run_periodically(check_dependencies, 5.0, "dependency check", count_failure),
                name="dependencies",
            )
            log.info("master ready", extra={"port": settings.master_port})
            yield

    return ctx

