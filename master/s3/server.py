"""Serve the gateway on ``S3_PORT`` inside the master process, beside the REST app."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable

from aiohttp import web

from common.config import MasterSettings
from master.s3.app import build_s3_app
from master.services.container import Services

__all__ = ["start_gateway"]

log = logging.getLogger(__name__)


async def start_gateway(
    settings: MasterSettings, services: Callable[[], Services], tls: ssl.SSLContext | None
) -> web.AppRunner | None:
    """Start listening (None when ``S3_PORT`` is 0); the caller cleans the runner up.

    Bodies are read as sent: ``auto_decompress`` off, so an object stored with
    ``Content-Encoding: gzip`` keeps its gzip bytes, as S3 keeps them.
    """
    if settings.s3_port == 0:
        return None
    runner = web.AppRunner(build_s3_app(settings, services), access_log=None,
                           max_line_size=32 * 1024, max_field_size=32 * 1024,
                           auto_decompress=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.master_host, settings.s3_port,
                           shutdown_timeout=10.0, ssl_context=tls)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    scheme = "https" if tls is not None else "http"
    log.info("S3 gateway listening",
             extra={"url": f"{scheme}://{settings.master_host}:{settings.s3_port}"})
    return runner
