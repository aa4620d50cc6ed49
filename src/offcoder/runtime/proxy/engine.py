"""The proxy's own small client for the Docker engine's unix socket (inspects, volume calls)."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote, urlencode

import h11

_READ = 65536


async def next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
    """The next h11 event, reading from `reader` as needed (EOF is fed to h11 as b"")."""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(_READ))
            continue
        return event


class EngineClient:
    """One-shot JSON requests to dockerd (a fresh connection each, `Connection: close`)."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        reader, writer = await asyncio.open_unix_connection(self.socket_path)
        try:
            conn = h11.Connection(h11.CLIENT)
            data = json.dumps(body).encode() if body is not None else b""
            headers = [("Host", "docker"), ("Connection", "close")]
            headers.append(("Content-Length", str(len(data))))
            if body is not None:
                headers.append(("Content-Type", "application/json"))
            target = path + ("?" + urlencode(query) if query else "")
            writer.write(conn.send(h11.Request(method=method, target=target, headers=headers)))
            if data:
                writer.write(conn.send(h11.Data(data=data)))
            writer.write(conn.send(h11.EndOfMessage()))
            await writer.drain()
            status = 0
            chunks: list[bytes] = []
            while True:
                event = await next_event(conn, reader)
                if isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.Data):
                    chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    break
            raw = b"".join(chunks)
            try:
                return status, json.loads(raw) if raw.strip() else None
            except ValueError:
                return status, raw.decode(errors="replace")
        finally:
            writer.close()

    async def inspect(self, kind: str, ref: str) -> dict[str, Any] | None:
        """Inspect a container, image, volume or network; None when the engine does not know it."""
        suffix = "/json" if kind in ("containers", "images") else ""
        status, data = await self.request("GET", f"/{kind}/{quote(ref, safe='/:@')}{suffix}")
        if status == 200 and isinstance(data, dict):
            return data
        if status == 404:
            return None
        raise EngineError(f"engine answered {status} to inspect {kind}/{ref}: {data}")


class EngineError(Exception):
    """The engine answered something the proxy cannot work with."""
