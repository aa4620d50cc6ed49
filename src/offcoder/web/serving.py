"""How `offcoder serve` runs the app under uvicorn: its configuration and its server, in one
place, so that the tests serve through exactly what the command does."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from typing import Any, Literal

import uvicorn

from offcoder.config import Settings
from offcoder.web.tls import LiveCertificate


def uvicorn_config(
    app: Any,
    settings: Settings,
    *,
    certificate: LiveCertificate | None,
    lifespan: Literal["auto", "on", "off"] = "on",
    log_level: str = "info",
) -> uvicorn.Config:
    """uvicorn's configuration for `app` on the settings' address, over TLS when `certificate`."""

    def our_context(_: uvicorn.Config, __: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        assert certificate is not None
        return certificate.listening

    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        lifespan=lifespan,
        # Forwarded headers are judged by our own middleware against OFFCODER_TRUSTED_PROXIES
        # (web/transport.py, T3). uvicorn's would run first and believe X-Forwarded-Proto and
        # X-Forwarded-For from any loopback peer (its default FORWARDED_ALLOW_IPS), so any
        # local process could pass for HTTPS: it is off.
        proxy_headers=False,
        ssl_context_factory=our_context if certificate is not None else None,
    )


class Server(uvicorn.Server):
    """uvicorn's server, with the certificate watcher beside it for as long as it serves."""

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        certificate: LiveCertificate | None,
        reload_interval_s: float,
    ) -> None:
        super().__init__(config)
        self.certificate = certificate
        self.reload_interval_s = reload_interval_s

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        if self.certificate is None:
            await super().serve(sockets)
            return
        # In the server's own event loop, where the handshakes run: no thread to coordinate.
        watching = asyncio.create_task(self.certificate.watch(self.reload_interval_s))
        try:
            await super().serve(sockets)
        finally:
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)
