"""``echofs-master``: the HTTP front end.

With ``TLS_CERT_FILE`` and ``TLS_KEY_FILE`` both set it serves HTTPS only (TLS 1.2 or
newer) on ``MASTER_PORT`` (and the S3 gateway's ``S3_PORT``); one without the other, or
files that do not load, refuse to start with one line on stderr. ``S3_PORT`` 0 serves
no gateway.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

from aiohttp import web

from common.config import MasterSettings
from common.embedded import embedded_services
from common.lifecycle import run_service
from common.logging import setup_logging
from common.startup_checks import (
    StartupRefused,
    check_cluster_identity,
    check_secret,
    check_tls_files,
    exit_if_refused,
)
from master.api.common import SERVICES
from master.app import build_app
from master.s3.server import start_gateway

__all__ = ["main"]

log = logging.getLogger(__name__)


def https_context(settings: MasterSettings) -> ssl.SSLContext | None:
    """The server's TLS context, None for plain HTTP; raises StartupRefused when the
    two files are not both set or do not load as a certificate chain and its key."""
    if not check_tls_files([("TLS_CERT_FILE", settings.tls_cert_file),
                            ("TLS_KEY_FILE", settings.tls_key_file)]):
        return None
    assert settings.tls_cert_file is not None and settings.tls_key_file is not None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    except (ssl.SSLError, OSError) as exc:
        raise StartupRefused(
            f"TLS_CERT_FILE / TLS_KEY_FILE do not load as a certificate and its key: {exc}"
        ) from None
    return context


def main() -> None:
    settings = MasterSettings()
    setup_logging("echofs-master", settings.log_level)
    try:
        check_secret("JWT_SECRET", settings.jwt_secret, dev_mode=settings.dev_mode)
        if settings.key_encryption_key:  # unset: the master runs, without new API keys
            check_secret("KEY_ENCRYPTION_KEY", settings.key_encryption_key,
                         dev_mode=settings.dev_mode)
        check_cluster_identity(settings)
        tls = https_context(settings)
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
            app = build_app(settings)
            runner = web.AppRunner(app, access_log=None, max_line_size=32 * 1024)
            await runner.setup()
            gateway: web.AppRunner | None = None
            try:
                # The S3 gateway first: when the REST port answers, both do.
                gateway = await start_gateway(settings, lambda: app[SERVICES], tls)
                site = web.TCPSite(runner, settings.master_host, settings.master_port,
                                   shutdown_timeout=10.0, ssl_context=tls)
                await site.start()
                scheme = "https" if tls is not None else "http"
                log.info("listening", extra={
                    "url": f"{scheme}://{settings.master_host}:{settings.master_port}"})
                await stop.wait()
            finally:
                if gateway is not None:
                    await gateway.cleanup()
                await runner.cleanup()

        run_service(serve)


if __name__ == "__main__":
    main()
