"""``echofs-controller`` / ``python -m consistency_controller.main``: run the controller.

Settings come from the environment once (``ControllerSettings``); with ``DATABASE_URL`` or
``REDIS_URL`` unset an embedded PostgreSQL / Redis is started under ``VAR_DIR`` and stopped
on exit. SIGINT/SIGTERM stop the HTTP server, the evaluation loop and every resource in
reverse order.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from common.config import ControllerSettings
from common.embedded import embedded_services
from common.lifecycle import run_service
from common.logging import setup_logging
from common.startup_checks import (
    StartupRefused,
    check_cluster_identity,
    check_secret,
    exit_if_refused,
)

from .app import build_app

__all__ = ["main", "serve"]

log = logging.getLogger(__name__)


async def serve(settings: ControllerSettings, stop: asyncio.Event) -> None:
    with embedded_services(settings.var_dir, settings.database_url, settings.redis_url) as (
        database_url,
        redis_url,
    ):
        app = build_app(settings, database_url, redis_url)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, settings.controller_host, settings.controller_port)
            await site.start()
            log.info(
                "controller listening",
                extra={"host": settings.controller_host, "port": settings.controller_port},
            )
            await stop.wait()
            log.info("controller stopping")
        finally:
            await runner.cleanup()


def main() -> None:
    settings = ControllerSettings()  # type: ignore[call-arg]  # fields come from the env
    setup_logging("echofs-controller", settings.log_level)
    try:
        check_cluster_identity(settings)
        if settings.jwt_secret:  # optional here: without it, only cluster calls may write
            check_secret("JWT_SECRET", settings.jwt_secret, dev_mode=settings.dev_mode)
    except StartupRefused as refused:
        exit_if_refused("echofs-controller", refused)
    run_service(lambda stop: serve(settings, stop), data_path=False)


if __name__ == "__main__":
    main()
