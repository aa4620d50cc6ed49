"""How `offcoder serve` runs the app under uvicorn: its configuration and its server, in one
place, so that the tests serve through exactly what the command does."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable, Generator
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


def admin_uvicorn_config(app: Any, settings: Settings) -> uvicorn.Config:
    """The admin dashboard's: its own host and port, plain HTTP on loopback or an internal
    address (a TLS-terminating proxy in front of it sets OFFCODER_ADMIN_URL to https)."""
    return uvicorn.Config(
        app,
        host=settings.admin_host,
        port=settings.admin_listen_port,
        log_level="info",
        lifespan="off",
        proxy_headers=False,
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
        # Served in the same event loop and stopped with this one (the admin dashboard).
        self.companions: list[Companion] = []

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        if not self.companions:
            await self._serve_watching(sockets)
            return
        beside = [asyncio.create_task(c.serve()) for c in self.companions]
        try:
            await self._serve_watching(sockets)
        finally:
            for companion in self.companions:
                companion.should_exit = True
            await asyncio.gather(*beside, return_exceptions=True)

    @property
    def all_started(self) -> bool:
        return self.started and all(c.started for c in self.companions)

    async def _serve_watching(self, sockets: list[socket.socket] | None = None) -> None:
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


class Companion(uvicorn.Server):
    """A second server in the main one's loop: the main one takes the signals and ends it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield
