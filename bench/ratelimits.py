"""What a rate-limit hit costs a request: PostgreSQL counters, Redis, and in-process memory.

Run with ``.venv/bin/python bench/ratelimits.py`` (``make bench-ratelimits``); about 20 s. Needs
only the venv and, for the Redis rows, a Redis on 127.0.0.1:6379 (``make test`` starts one; the
rows are skipped without it). An embedded PostgreSQL (pgserver) in a temporary directory,
migrated by `offcoder.db.bootstrap.prepare` exactly as the tests do.

Per storage, ``RateLimits.hit(api, user)`` (the per-user API limit every authenticated request
pays, 512/minute with a limit high enough never to refuse) is timed from the call to its return:
one client back to back (``--hits`` hits), then 8 clients at once, each on its own user (spread)
or all on one user (hot: one counter row or key). The baseline is what every authenticated
request already pays: one application-role transaction that sets ``app.user_id`` and reads one
row (``Database.user_session`` + ``SELECT 1``), timed the same way. Memory is the live-log
connections' ``ConnectionLimits`` (fixed window, in process).

Network: loopback only (PostgreSQL on a Unix socket or 127.0.0.1, Redis on 127.0.0.1).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import redis
from sqlalchemy import text

from offcoder.config import Environment, RateLimitStorage, Settings
from offcoder.db.bootstrap import prepare
from offcoder.db.engine import Database
from offcoder.ratelimits.service import ConnectionLimits, LimitKind, RateLimits

REDIS_URL = "redis://127.0.0.1:6379/0"
CLIENTS = 8


def redis_answers() -> bool:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


async def timed(call: Callable[[], Awaitable[object]], count: int) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        await call()
        times.append(time.perf_counter() - start)
    return times


def summary(name: str, times: list[float], wall: float | None = None) -> str:
    ms = sorted(t * 1000 for t in times)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    rate = f"  {len(ms) / wall:8.0f}/s" if wall else ""
    return f"{name:<34} p50 {statistics.median(ms):6.3f} ms  p99 {p99:6.3f} ms{rate}"


async def cell(name: str, calls: list[Callable[[], Awaitable[object]]], hits: int) -> str:
    start = time.perf_counter()
    results = await asyncio.gather(*(timed(call, hits) for call in calls))
    wall = time.perf_counter() - start
    return summary(name, [t for r in results for t in r], wall)


async def bench_storage(label: str, limits: RateLimits, hits: int) -> list[str]:
    one = str(uuid.uuid4())
    users = [str(uuid.uuid4()) for _ in range(CLIENTS)]
    hot = str(uuid.uuid4())

    def hit(user: str) -> Callable[[], Awaitable[None]]:
        return lambda: limits.hit(LimitKind.api, user)

    await timed(hit(one), 100)  # warm-up: pool connections, the row or key
    return [
        summary(f"{label}, 1 client", await timed(hit(one), hits)),
        await cell(f"{label}, {CLIENTS} clients spread", [hit(u) for u in users], hits // 4),
        await cell(f"{label}, {CLIENTS} clients hot", [hit(hot)] * CLIENTS, hits // 4),
    ]


async def run(hits: int) -> None:
    with tempfile.TemporaryDirectory(prefix="offcoder-bench-ratelimits-") as tmp:
        settings = Settings(
            env=Environment.test,
            state_dir=Path(tmp),
            rate_limit_api=f"{hits * 100}/minute",  # counted, never refused
        )
        prepared = prepare(settings)
        logging.disable(logging.WARNING)
        database: Database = prepared.open(pool_size=10)
        try:
            user = uuid.uuid4()

            async def transaction() -> None:
                async with database.user_session(user) as session:
                    await session.execute(text("SELECT 1"))

            await timed(transaction, 100)
            lines = [summary("baseline: a user transaction", await timed(transaction, hits))]
            postgres = RateLimits(settings, database)
            lines += await bench_storage("postgres (UNLOGGED upsert)", postgres, hits)
            await postgres.close()
            if redis_answers():
                on_redis = settings.model_copy(
                    update={
                        "redis_url": REDIS_URL,
                        "rate_limit_storage": RateLimitStorage.redis,
                        "rate_limit_key_prefix": f"offcoder-bench-{uuid.uuid4().hex[:8]}",
                    }
                )
                in_redis = RateLimits(on_redis, database)
                lines += await bench_storage("redis", in_redis, hits)
                await in_redis.counters.storage.reset()
                await in_redis.close()
            else:
                lines.append(f"redis: no Redis at {REDIS_URL}, skipped")
            memory = ConnectionLimits()
            items = postgres.limits[LimitKind.api]
            lines.append(
                summary(
                    "memory (per connection)",
                    await timed(lambda: memory.hit(items, "event", "sid"), hits),
                )
            )
            print("\n".join(lines))
        finally:
            await database.dispose()
            if prepared.embedded is not None:
                prepared.embedded.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hits", type=int, default=2000, help="hits per one-client cell (2000)")
    asyncio.run(run(parser.parse_args().hits))


if __name__ == "__main__":
    main()
