"""Registration and heartbeat to the master (DESIGN.md §6).

The worker registers once, then heartbeats every ``HEARTBEAT_INTERVAL_SECONDS`` with
its usage, draining flag and the corrupt blobs found since the last accepted beat. A
404 means the master forgot us (restart, expiry): register again. An unreachable
master is logged and retried with capped backoff; the worker keeps serving.

Every call is signed with the cluster credential (``common.cluster_auth``) and carries
this worker's identity key (``X-EchoFS-Worker-Key``): made at first start, kept in a
0600 file, bound by the master to the worker id at first registration, so nobody else
can re-register this id at another address. Each answer lists the registered, healthy
workers; ReplicateChunk copies only to those (``WorkerState.peers``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from common.cluster_auth import ClusterIdentity
from common.errors import Unavailable
from common.loops import run_loop
from worker.state import WorkerState
from worker.store import ChunkStore

__all__ = ["WORKER_KEY_HEADER", "Heartbeat", "HeartbeatConfig", "load_or_create_identity_key"]

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0
REQUEST_TIMEOUT_S = 5.0
WORKER_KEY_HEADER = "X-EchoFS-Worker-Key"


def load_or_create_identity_key(path: os.PathLike[str] | str) -> str:
    """This worker's registration key: read from ``path``, or made there (0600) once."""
    key_path = Path(path)
    if key_path.is_file():
        key = key_path.read_text().strip()
        if len(key) >= 32:
            return key
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


@dataclass(frozen=True)
class HeartbeatConfig:
    master_url: str
    identity: ClusterIdentity
    identity_key: str
    advertise_address: str
    metrics_url: str
    interval_s: float


class _MasterForgotUs(Exception):
    """The master answered 404 to a heartbeat: register again."""


class Heartbeat:
    def __init__(
        self, config: HeartbeatConfig, store: ChunkStore, state: WorkerState,
    ) -> None:
        self.config = config
        self.store = store
        self.state = state
        self._base = config.master_url.rstrip("/")
        self.registered = False

    def _usage(self) -> dict[str, Any]:
        status = self.store.status()
        return {
            "capacity_bytes": status.capacity_bytes,
            "used_bytes": status.used_bytes,
            "chunk_count": status.chunk_count,
        }

    async def _post(self, session: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> int:
        headers = {
            **self.config.identity.http_headers("POST", path),
            WORKER_KEY_HEADER: self.config.identity_key,
        }
        async with session.post(self._base + path, json=body, headers=headers) as response:
            if response.status < 300:
                with contextlib.suppress(ValueError, aiohttp.ContentTypeError):
                    self._learn_peers(await response.json())
            else:
                await response.read()
            return response.status

    def _learn_peers(self, answer: Any) -> None:
        data = answer.get("data") if isinstance(answer, dict) else None
        peers = data.get("peers") if isinstance(data, dict) else None
        if isinstance(peers, list):
            self.state.peers = {
                str(p["address"]): str(p["worker_id"]) for p in peers
                if isinstance(p, dict) and "address" in p and "worker_id" in p
            }

    def _session(self, timeout: aiohttp.ClientTimeout) -> aiohttp.ClientSession:
        """A session that trusts the cluster CA as well as the system's, for an HTTPS master."""
        context = ssl.create_default_context()
        if self.config.identity.tls is not None:
            context.load_verify_locations(cadata=self.config.identity.tls.ca_pem.decode())
        return aiohttp.ClientSession(
            timeout=timeout, connector=aiohttp.TCPConnector(ssl=context)
        )

    async def register(self, session: aiohttp.ClientSession) -> None:
        body = {
            "worker_id": self.state.worker_id,
            "address": self.config.advertise_address,
            "zone": self.state.zone,
            **self._usage(),
            "metrics_url": self.config.metrics_url,
        }
        status = await self._post(session, "/api/v1/workers/register", body)
        if status >= 300:
            raise RuntimeError(f"master refused registration with HTTP {status}")
        self.registered = True
        log.info("registered with master", extra={"master_url": self._base})

    async def beat(self, session: aiohttp.ClientSession) -> None:
        corrupt = self.store.take_corrupt_reports()
        body = {**self._usage(), "draining": self.state.draining, "corrupt_chunk_ids": corrupt}
        try:
            status = await self._post(
                session, f"/api/v1/workers/{self.state.worker_id}/heartbeat", body
            )
        except BaseException:
            self.store.restore_corrupt_reports(corrupt)
            raise
        if status == 404:
            self.store.restore_corrupt_reports(corrupt)
            raise _MasterForgotUs()
        if status >= 300:
            self.store.restore_corrupt_reports(corrupt)
            raise RuntimeError(f"master refused heartbeat with HTTP {status}")

    async def announce_draining(self, timeout_s: float = 1.0) -> None:
        """One last beat saying draining=true, so the master stops placing here now.

        Best effort and short: a stop must not wait on an unreachable master.
        """
        if not self.registered:
            return
        try:
            timeout = aiohttp.ClientTimeout(total=timeout_s)
            async with self._session(timeout) as session:
                await self.beat(session)
        except (aiohttp.ClientError, TimeoutError, RuntimeError, _MasterForgotUs) as exc:
            log.info("could not announce draining: %r", exc)

    async def run_forever(self) -> None:
        """Register once, then beat every interval (``common.loops.run_loop``): an
        unreachable master is retried with capped backoff; a 404 registers again at once."""
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        async with self._session(timeout) as session:

            async def step() -> float:
                try:
                    if not self.registered:
                        await self.register(session)
                    await self.beat(session)
                except _MasterForgotUs:
                    log.warning("master does not know this worker; registering again")
                    self.registered = False
                    return 0.0
                except (aiohttp.ClientError, TimeoutError, RuntimeError) as exc:
                    raise Unavailable(f"master unreachable: {exc}") from exc
                return self.config.interval_s

            await run_loop(
                step, name="heartbeat", interval_s=0.5, max_backoff_s=MAX_BACKOFF_S,
                delay_after=lambda pause_s: pause_s,
                on_failure=lambda loop: self.store.metrics.background_errors.labels(loop).inc(),
            )
