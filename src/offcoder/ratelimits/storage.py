"""Where the counters live: PostgreSQL (our `PostgresCounters`, the default) or Redis (the
`limits` library's own storage, with REDIS_URL). Either way every API process of a deployment
counts in one place, so N replicas do not allow N times a limit (decision 0025).

`limits` has no PostgreSQL storage; `PostgresCounters` implements its storage interface for
the fixed-window strategy, which needs one counter per key and window: a hit is one upsert,
in its own transaction, on an UNLOGGED table the system role alone reaches (migration 0015).
"""

from __future__ import annotations

import time
from typing import Any, cast

import redis.asyncio
from limits.aio.storage import RedisStorage, Storage
from sqlalchemy import CursorResult, delete, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from offcoder.config import RateLimitStorage, Settings
from offcoder.db.engine import Database
from offcoder.ratelimits.models import RateLimitCounter

# How often each worker deletes the windows that ended (and once at its start).
PURGE_EVERY_S = 300.0
PURGE_BATCH = 5000
# A Redis that does not answer within this is treated as down (the call is admitted, see
# `service.RateLimits.hit`): no request waits long on a counter.
REDIS_TIMEOUT_S = 1.0


# One round trip per hit. Written out rather than built with the ORM's insert: the built
# statement measured three times slower per hit (1.6 ms against 0.5 ms on loopback), most of it
# in psycopg preparing it again. `now()` is the statement's instant (its own transaction), one
# for both CASEs, on the database's clock.
HIT = text(
    """
    INSERT INTO rate_limit_counters AS c (key, hits, expires_at)
    VALUES (:key, :amount, now() + make_interval(secs => :expiry))
    ON CONFLICT (key) DO UPDATE SET
        hits = CASE WHEN c.expires_at <= now() THEN excluded.hits ELSE c.hits + excluded.hits END,
        expires_at = CASE WHEN c.expires_at <= now() THEN excluded.expires_at ELSE c.expires_at END
    RETURNING hits
    """
)


class PostgresCounters(Storage):
    """Fixed-window counters in `rate_limit_counters`, on the database's clock."""

    def __init__(self, database: Database, pool_size: int) -> None:
        # wrap_exceptions: a failing database reaches the caller as limits' StorageError, the
        # one error `RateLimits.hit` treats as "storage unavailable".
        super().__init__(wrap_exceptions=True)
        # A pool of its own on the system role, so counting never waits behind sign-in or a
        # worker for a connection. AUTOCOMMIT: a hit is one statement, committed by itself, in
        # one round trip (no BEGIN and COMMIT around it). No pre-ping, which would be a second
        # round trip per hit: a connection the server dropped fails one hit, which is admitted
        # (`RateLimits.hit`), and the pool replaces it.
        self.engine: AsyncEngine = create_async_engine(
            database.system_engine.url,
            isolation_level="AUTOCOMMIT",
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=False,
            hide_parameters=True,
        )

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return (SQLAlchemyError, OSError)

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Count `amount` more in `key`'s window (a new window of `expiry` seconds when there
        is none or it ended) and return the window's count. One statement: concurrent hits on
        one key queue on its row for the moment of the update, never across the request."""
        # Committed at once (AUTOCOMMIT): a count stands whatever becomes of the request it
        # admitted or refused.
        async with self.engine.connect() as conn:
            hits = await conn.scalar(HIT, {"key": key, "amount": amount, "expiry": expiry})
        return int(hits or 0)

    async def get(self, key: str) -> int:
        async with self.engine.connect() as conn:
            hits = await conn.scalar(
                select(RateLimitCounter.hits).where(
                    RateLimitCounter.key == key, RateLimitCounter.expires_at > func.now()
                )
            )
        return int(hits or 0)

    async def get_expiry(self, key: str) -> float:
        """When `key`'s window ends, as this host's Unix time: the seconds left are measured
        on the database's clock, so a skewed host clock does not skew Retry-After."""
        async with self.engine.connect() as conn:
            left = await conn.scalar(
                select(func.extract("epoch", RateLimitCounter.expires_at - func.now())).where(
                    RateLimitCounter.key == key
                )
            )
        return time.time() + max(0.0, float(left or 0))

    async def check(self) -> bool:
        async with self.engine.connect() as conn:
            return bool(await conn.scalar(select(1)))

    async def reset(self) -> int | None:
        async with self.engine.connect() as conn:
            result = await conn.execute(delete(RateLimitCounter))
        return cast(CursorResult[Any], result).rowcount

    async def clear(self, key: str) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(delete(RateLimitCounter).where(RateLimitCounter.key == key))


class Counters:
    """The storage `RateLimits` counts in, and what it holds open (a Redis pool)."""

    def __init__(self, storage: Storage, pool: redis.asyncio.ConnectionPool | None = None):
        self.storage = storage
        self.pool = pool

    @classmethod
    def for_settings(cls, settings: Settings, database: Database) -> Counters:
        if settings.rate_limit_store is RateLimitStorage.postgres:
            return cls(PostgresCounters(database, max(2, settings.db_pool_size // 2)))
        assert settings.redis_url is not None  # Settings refuses redis without REDIS_URL
        # Our own pool, so that closing the server closes it; limits builds its client on it.
        pool = redis.asyncio.ConnectionPool.from_url(
            settings.redis_url,
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
        )
        options: dict[str, Any] = {"connection_pool": pool}
        storage = RedisStorage(
            "async+" + settings.redis_url,
            wrap_exceptions=True,
            implementation="redispy",  # redis-py is already ours (python-socketio's manager)
            key_prefix=settings.rate_limit_key_prefix,
            **options,
        )
        return cls(storage, pool)

    async def close(self) -> None:
        if isinstance(self.storage, PostgresCounters):
            await self.storage.engine.dispose()
        if self.pool is not None:
            await self.pool.aclose()


async def purge_expired_counters(database: Database) -> int:
    """Delete the PostgreSQL windows that ended: a hit after its window's end starts a new
    window anyway, so this changes no count; it keeps addresses that never came back from
    piling up. Batch by batch, each its own transaction; workers purging at once skip each
    other's rows."""
    total = 0
    while True:
        async with database.system_session() as s:
            ended = (
                select(RateLimitCounter.key)
                .where(RateLimitCounter.expires_at <= func.now())
                .limit(PURGE_BATCH)
                .with_for_update(skip_locked=True)
            )
            result = await s.execute(
                delete(RateLimitCounter)
                .where(RateLimitCounter.key.in_(ended))
                .execution_options(synchronize_session=False)
            )
        deleted = cast(CursorResult[Any], result).rowcount
        total += deleted
        if deleted < PURGE_BATCH:
            return total
