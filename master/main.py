"""``echofs-master``: the HTTP front end."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from common.config import MasterSettings
from common.embedded import embedded_services
from common.lifecycle import run_service
from common.logging import setup_logging
from common.startup_checks import (
    StartupRefused,
    check_cluster_identity,
    check_secret,
    exit_if_refused,
)
from master.app import build_app

__all__ = ["main"]

log = logging.getLogger(__name__)


def main() -> None:
    settings = MasterSettings()
    setup_logging("echofs-master", settings.log_level)
    try:
        check_secret("JWT_SECRET", settings.jwt_secret, dev_mode=settings.dev_mode)
        check_cluster_identity(settings)
    except StartupRefused as refused:
        exit_if_refused("echofs-master", refused)
    with embedded_services(
        settings.var_dir, settings.database_url, settings.redis_url
    ) as (database_url, redis_url):
        settings = settings.model_copy(
            update={"database_url": database_url, "redis_url": redis_url}
        )

        async def serve(stop: asyncio.Event) -> None:
            # Paths may be 1024 UTF-8 bytes, i.e. up to ~3 KiB percent-encoded; leave room
            # so an over-long path is our JSON 400, not the parser's plain-text one.
            runner = web.AppRunner(build_app(settings), access_log=None,
                                   max_line_size=32 * 1024)
            await runner.setup()
            try:
                site = web.TCPSite(runner, settings.master_host, settings.master_port,
                                   shutdown_timeout=10.0)
                await site.start()
                log.info("listening", extra={
                    "url": f"http://{settings.master_host}:{settings.master_port}"})
                await stop.wait()
            finally:
                await runner.cleanup()

        run_service(serve)


if __name__ == "__main__":
    main()
