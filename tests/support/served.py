"""An app served by uvicorn on a loopback port inside the test's event loop (Socket.IO clients
need a real HTTP server; httpx's ASGI transport has no WebSocket)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from offcoder.context import AppContext
from offcoder.main import create_app


@asynccontextmanager
async def served(app: Any, port: int = 0, *, log_level: str = "warning") -> AsyncIterator[str]:
    """`app` on a loopback port; `log_level="info"` also gives uvicorn's access log."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level=log_level,
        lifespan="off",
        ws="websockets-sansio",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(20):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        done, _ = await asyncio.wait({task}, timeout=5)
        if not done:
            # A request the engine holds open on purpose (an oversized Engine.IO post is
            # answered only when its session times out) would otherwise delay the end.
            server.force_exit = True
            await asyncio.wait_for(task, timeout=20)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        number: int = s.getsockname()[1]
        return number


@asynccontextmanager
async def served_at_its_own_url(ctx: AppContext) -> AsyncIterator[str]:
    """The whole app (API, console, edge) on a loopback port that is also its public URL: where
    sign-in comes back to, whose cookies and Socket.IO are the console's."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    local = dataclasses.replace(ctx, settings=ctx.settings.model_copy(update={"public_url": url}))
    async with served(create_app(local), port=port):
        yield url
