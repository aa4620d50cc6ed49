"""Live job logs over Socket.IO as a client sees them: a recording watcher, a ticking program."""

from __future__ import annotations

import asyncio
from typing import Any

import socketio

ENDED = {"succeeded", "failed", "timed_out", "cancelled"}
# Prints numbered lines for about three seconds: long enough to subscribe in the middle.
TICKER = (
    b"import sys, time\n"
    b"n = int(sys.argv[1])\n"
    b"for i in range(n):\n"
    b"    print(f'line {i}', flush=True)\n"
    b"    time.sleep(3 / n)\n"
)


class Watcher:
    """A Socket.IO client that records what it receives."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.logs: list[dict[str, Any]] = []  # every chunk, from `job:log` and `job:logs` alike
        self.packets: list[dict[str, Any]] = []  # the `job:logs` packets as they came
        self.single: list[dict[str, Any]] = []  # the `job:log` events
        self.statuses: list[dict[str, Any]] = []
        self.behind: list[dict[str, Any]] = []
        self.ended = asyncio.Event()
        self.disconnected = asyncio.Event()
        self._log_arrived = asyncio.Event()
        self.client.on("job:log", self._log)
        self.client.on("job:logs", self._batch)
        self.client.on("job:status", self._status)
        self.client.on("job:behind", self.behind.append)
        self.client.on("disconnect", lambda *_: self.disconnected.set())

    def _log(self, data: dict[str, Any]) -> None:
        self.single.append(data)
        self.logs.append(data)
        self._log_arrived.set()

    def _batch(self, packet: dict[str, Any]) -> None:
        self.packets.append(packet)
        self.logs.extend({"job_id": packet["job_id"], **chunk} for chunk in packet["chunks"])
        self._log_arrived.set()

    async def has(self, count: int) -> None:
        while len(self.logs) < count:
            self._log_arrived.clear()
            await self._log_arrived.wait()

    def _status(self, data: dict[str, Any]) -> None:
        self.statuses.append(data)
        if data["status"] in ENDED:
            self.ended.set()

    async def connect(self, url: str, token: str | None, **kw: Any) -> None:
        auth = {"token": token} if token is not None else None
        await self.client.connect(url, auth=auth, transports=["websocket"], **kw)

    async def subscribe(self, job_id: str, after_seq: int = 0, **options: Any) -> dict[str, Any]:
        """Subscribe after `after_seq`, or with `tail=N` from the last N chunks; `batch=True`
        asks for `job:logs` packets."""
        start = {} if "tail" in options else {"after_seq": after_seq}
        answer: dict[str, Any] = await self.client.call(
            "job:subscribe", {"job_id": job_id, **start, **options}, timeout=10
        )
        return answer

    async def earlier(self, job_id: str, before_seq: int, **options: Any) -> dict[str, Any]:
        answer: dict[str, Any] = await self.client.call(
            "job:earlier", {"job_id": job_id, "before_seq": before_seq, **options}, timeout=10
        )
        return answer

    def lines(self) -> str:
        return "".join(str(c["data"]) for c in self.logs)


def expected_ticker(n: int) -> str:
    return "".join(f"line {i}\n" for i in range(n))
