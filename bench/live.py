"""Live log delivery: OffCoder's Socket.IO subscriptions against a raw python-socketio broadcast.

Run with ``make bench-live`` (``.venv/bin/python bench/live.py``); needs what ``make run`` needs
(root, a Docker engine, the runtime images). About two minutes.

Ours: ``offcoder serve --dev`` in a subprocess (embedded PostgreSQL in a temporary state dir,
in-process worker, its own Docker policy proxy), signed in with ``offcoder dev token``. A job
prints LINES lines, each carrying ``time.time()`` at the print, after a pause that lets every
subscriber join first; N Socket.IO clients (this process, one event loop) subscribe to it.

Raw: a bare ``socketio.AsyncServer`` under uvicorn in a subprocess emits the same lines, one
``emit`` per line to a room holding the N clients, at the rate our job printed them, each
carrying ``time.time()`` at the emit.

For N = 1, 10, 100: lines per second delivered (all clients' lines / time from the first to the
last receipt) and the latency from the line's timestamp to its receipt, p50 and p99. For ours the
timestamp is taken at the print in the sandbox, before the worker reads it, so the figure is an
upper bound of "worker read → client receipt" (it adds the pipe and the engine's log stream,
~1 ms). Container and host share one kernel clock.

Network: loopback only (the servers listen on 127.0.0.1; the job has network "none").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import socketio

ROOT = Path(__file__).resolve().parent.parent
OFFCODER = [sys.executable, "-m", "offcoder.cli"]
SUBSCRIBERS = (1, 10, 100)

PROGRAM = textwrap.dedent(
    """
    import sys, time
    lines, pause, rate = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    time.sleep(pause)
    for i in range(lines):
        print(f"{i} {time.time():.6f}", flush=True)
        time.sleep(1 / rate)
    """
).encode()

RAW_SERVER = textwrap.dedent(
    """
    import asyncio, sys, time
    import socketio, uvicorn
    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins=[])
    app = socketio.ASGIApp(sio)

    @sio.on("join")
    async def join(sid, data):
        await sio.enter_room(sid, "job")
        return {"ok": True}

    @sio.on("run")
    async def run(sid, data):
        async def send():
            lines, rate = data["lines"], data["rate"]
            for i in range(lines):
                await sio.emit("line", {"i": i, "t": time.time()}, room="job")
                await asyncio.sleep(1 / rate)
            await sio.emit("done", {}, room="job")
        sio.start_background_task(send)
        return {"ok": True}

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def wait_http(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError(log.read_text()[-3000:])
            try:
                if (await client.get(url, timeout=2)).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


class Result:
    def __init__(self, name: str, clients: int) -> None:
        self.name, self.clients = name, clients
        self.latencies: list[float] = []
        self.first: float | None = None
        self.last = 0.0
        self.lines = 0

    def receive(self, sent_at: float) -> None:
        now = time.time()
        self.first = self.first if self.first is not None else now
        self.last = now
        self.lines += 1
        self.latencies.append(now - sent_at)

    def rate(self) -> float:
        return self.lines / max(self.last - (self.first or self.last), 1e-9)


async def connect_all(url: str, count: int, auth: dict[str, str] | None) -> list[Any]:
    clients = [socketio.AsyncClient(reconnection=False) for _ in range(count)]
    for batch in range(0, count, 20):
        await asyncio.gather(
            *(c.connect(url, auth=auth, transports=["websocket"]) for c in clients[batch:batch + 20])
        )
    return clients


async def run_ours(url: str, token: str, project: str, clients_n: int, args: Any) -> Result:
    result = Result("ours", clients_n)
    headers = {"authorization": f"Bearer {token}"}
    ended = asyncio.Event()
    finished = 0
    clients = await connect_all(url, clients_n, {"token": token})

    def on_log(data: dict[str, Any]) -> None:
        for line in str(data["data"]).splitlines():
            result.receive(float(line.split()[1]))

    def on_status(data: dict[str, Any]) -> None:
        nonlocal finished
        if data["status"] in {"succeeded", "failed", "timed_out", "cancelled"}:
            finished += 1
            if finished == clients_n:
                ended.set()

    for client in clients:
        client.on("job:log", on_log)
        client.on("job:status", on_status)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as api:
        submitted = await api.post(
            f"/v1/projects/{project}/jobs",
            json={
                "command": ["python3", "main.py", str(args.lines), str(args.pause), str(args.rate)],
                "timeout_s": 120,
            },
        )
        submitted.raise_for_status()
        job_id = submitted.json()["id"]
        answers = await asyncio.gather(
            *(c.call("job:subscribe", {"job_id": job_id, "after_seq": 0}) for c in clients)
        )
        assert all(a == {"ok": True} for a in answers), answers[:3]
        async with asyncio.timeout(180):
            await ended.wait()
        job = (await api.get(f"/v1/jobs/{job_id}")).json()
        assert job["status"] == "succeeded", job
    await asyncio.gather(*(c.disconnect() for c in clients))
    expected = args.lines * clients_n
    assert result.lines == expected, f"ours delivered {result.lines} of {expected} lines"
    return result


async def run_raw(url: str, clients_n: int, args: Any) -> Result:
    result = Result("raw", clients_n)
    done = asyncio.Event()
    finished = 0
    clients = await connect_all(url, clients_n, None)

    def on_done(_: Any) -> None:
        nonlocal finished
        finished += 1
        if finished == clients_n:
            done.set()

    for client in clients:
        client.on("line", lambda data: result.receive(float(data["t"])))
        client.on("done", on_done)
    await asyncio.gather(*(c.call("join", {}) for c in clients))
    await clients[0].call("run", {"lines": args.lines, "rate": args.rate})
    async with asyncio.timeout(180):
        await done.wait()
    await asyncio.gather(*(c.disconnect() for c in clients))
    assert result.lines == args.lines * clients_n
    return result


async def main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="offcoder-bench-live-") as tmp:
        state = Path(tmp)
        port, raw_port = free_port(), free_port()
        env = {
            **os.environ,
            "OFFCODER_STATE_DIR": str(state),
            "OFFCODER_DOCKER_PROXY_SOCKET": str(state / "docker-proxy.sock"),
        }
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        serve_log, raw_log = state / "serve.log", state / "raw.log"
        with serve_log.open("w") as out, raw_log.open("w") as raw_out:
            server = subprocess.Popen(
                [*OFFCODER, "serve", "--dev", "--port", str(port)],
                env=env, stdout=out, stderr=subprocess.STDOUT,
            )
            raw = subprocess.Popen(
                [sys.executable, "-c", RAW_SERVER, str(raw_port)],
                stdout=raw_out, stderr=subprocess.STDOUT,
            )
            try:
                url, raw_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{raw_port}"
                await wait_http(f"{url}/healthz", server, serve_log)
                await wait_http(f"{raw_url}/socket.io/?EIO=4&transport=polling", raw, raw_log)
                issued = subprocess.run(
                    [*OFFCODER, "dev", "token", "--subject", "bench@example.test",
                     "--server", url],
                    env=env, capture_output=True, text=True, check=True,
                )
                token = json.loads(issued.stdout)["access_token"]
                headers = {"authorization": f"Bearer {token}"}
                async with httpx.AsyncClient(base_url=url, headers=headers) as api:
                    project = (await api.post("/v1/projects", json={"name": "live"})).json()["id"]
                    put = await api.put(f"/v1/projects/{project}/files/main.py", content=PROGRAM)
                    put.raise_for_status()
                print(f"== live log delivery: {args.lines} lines at {args.rate:.0f}/s per job; "
                      f"subscribers {SUBSCRIBERS}; {os.cpu_count()} CPUs")
                rows = []
                for n in SUBSCRIBERS:
                    ours = await run_ours(url, token, project, n, args)
                    base = await run_raw(raw_url, n, args)
                    rows.append((n, ours, base))
                    print(f"   {n:>3} subscribers: done")
            finally:
                for process in (server, raw):
                    process.terminate()
                    try:
                        process.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        process.kill()
    print()
    print("  subs | lines/s delivered: raw     ours   ratio | latency ms p50: raw  ours "
          "| p99: raw   ours")
    for n, ours, base in rows:
        print(
            f"  {n:>4} | {base.rate():>20.0f} {ours.rate():>8.0f} {ours.rate() / base.rate():>6.2f}x "
            f"| {1000 * pct(base.latencies, 0.5):>17.1f} {1000 * pct(ours.latencies, 0.5):>5.1f} "
            f"| {1000 * pct(base.latencies, 0.99):>8.1f} {1000 * pct(ours.latencies, 0.99):>6.1f}"
        )
    mean = statistics.mean(r[1].rate() / r[2].rate() for r in rows)
    print(f"\n  mean delivered-rate ratio ours/raw: {mean:.2f}x")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1000, help="lines per job (1000)")
    parser.add_argument("--rate", type=float, default=500, help="lines per second printed (500)")
    parser.add_argument("--pause", type=float, default=3, help="seconds before printing (3)")
    sys.exit(asyncio.run(main(parser.parse_args())))
