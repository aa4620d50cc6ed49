"""Where the counts live: PostgreSQL by default, Redis when REDIS_URL is set; either way two
servers of one deployment share them. A storage that cannot answer admits calls and says so."""

from __future__ import annotations

import asyncio
import io
import secrets
from datetime import timedelta

import pytest
import redis.asyncio
from pydantic import ValidationError
from sqlalchemy import delete, func, select

from offcoder.config import RateLimitStorage, Settings
from offcoder.context import AppContext
from offcoder.db.base import utcnow
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.ratelimits.models import RateLimitCounter
from offcoder.ratelimits.storage import purge_expired_counters
from tests.support.ratelimits import REDIS_URL, an_address, assert_rate_limited, limited_app
from tests.support.served import free_port
from tests.support.signin import SignedIn, signed_in_user


async def counted_in_postgres(ctx: AppContext, user: SignedIn) -> int:
    """The PostgreSQL windows that count `user`'s calls."""
    user_id = ctx.signer.verify(user.access_token).user_id
    async with ctx.database.system_session() as s:
        rows = await s.scalar(
            select(func.count())
            .select_from(RateLimitCounter)
            .where(RateLimitCounter.key.contains(str(user_id)))
        )
    return int(rows or 0)


async def test_the_counts_are_in_postgres_by_default(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    async with limited_app(settings, prepared, rate_limit_api="5/minute") as limited:
        assert limited.ctx.settings.rate_limit_store is RateLimitStorage.postgres
        alice = await signed_in_user(limited.ctx)
        client = await limited.at(an_address())
        assert (await client.get("/v1/me", headers=alice.headers)).status_code == 200
        assert await counted_in_postgres(limited.ctx, alice) == 1


async def test_two_servers_on_one_redis_share_the_count_and_write_nothing_to_postgres(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    prefix = f"offcoder-test-{secrets.token_hex(4)}"  # keys of this test's own on the Redis
    overrides = {
        "redis_url": REDIS_URL,
        "rate_limit_key_prefix": prefix,
        "rate_limit_api": "3/minute",
    }
    async with (
        limited_app(settings, prepared, **overrides) as first,
        limited_app(settings, prepared, **overrides) as second,
    ):
        assert first.ctx.settings.rate_limit_store is RateLimitStorage.redis
        alice = await signed_in_user(first.ctx)
        one, two = await first.at(an_address()), await second.at(an_address())
        for client in (one, two, one):
            assert (await client.get("/v1/me", headers=alice.headers)).status_code == 200
        assert_rate_limited(await two.get("/v1/me", headers=alice.headers))
        assert_rate_limited(await one.get("/v1/me", headers=alice.headers))
        assert await counted_in_postgres(first.ctx, alice) == 0
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(f"{prefix}*")]
        assert len(keys) == 1, keys  # alice's one window
        await client.delete(*keys)
    finally:
        await client.aclose()


async def test_a_redis_that_does_not_answer_admits_calls_and_says_so(
    settings: Settings, prepared: PreparedDatabase, captured_info_logs: io.StringIO
) -> None:
    """The limits shield the service; a Redis outage must not become an API outage."""
    nobody = f"redis://127.0.0.1:{free_port()}/0"  # a port nothing listens on
    async with limited_app(settings, prepared, redis_url=nobody, rate_limit_api="1/minute") as app:
        alice = await signed_in_user(app.ctx)
        client = await app.at(an_address())
        for _ in range(3):
            assert (await client.get("/v1/me", headers=alice.headers)).status_code == 200
    assert captured_info_logs.getvalue().count("rate limit storage unavailable") == 3


def test_limits_that_cannot_be_read_stop_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("REDIS_URL", "OFFCODER_REDIS_URL"):  # a developer's shell may set it
        monkeypatch.delenv(variable, raising=False)
    for bad in ("lots", "10 a minute", "0/minute;", ""):
        with pytest.raises(ValidationError, match="rate_limit_api"):
            Settings(rate_limit_api=bad)
    with pytest.raises(ValidationError, match="REDIS_URL is not set"):
        Settings(rate_limit_storage=RateLimitStorage.redis)
    both = Settings(rate_limit_api="10/second;100/minute")
    assert both.rate_limit_api == "10/second;100/minute"
    assert Settings(redis_url=REDIS_URL).rate_limit_store is RateLimitStorage.redis
    pinned = Settings(redis_url=REDIS_URL, rate_limit_storage=RateLimitStorage.postgres)
    assert pinned.rate_limit_store is RateLimitStorage.postgres


async def test_every_limit_of_a_class_must_hold(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    """With "2/2 seconds;3/minute": a third call within the two seconds is refused for those
    seconds; after them, a third call passes and a fourth is refused for the rest of the
    minute."""
    async with limited_app(settings, prepared, rate_limit_api="2/2 seconds;3/minute") as app:
        alice = await signed_in_user(app.ctx)
        client = await app.at(an_address())
        for _ in range(2):
            assert (await client.get("/v1/me", headers=alice.headers)).status_code == 200
        assert_rate_limited(await client.get("/v1/me", headers=alice.headers), window_s=2)
        await asyncio.sleep(2.1)
        assert (await client.get("/v1/me", headers=alice.headers)).status_code == 200
        wait = assert_rate_limited(await client.get("/v1/me", headers=alice.headers))
        assert wait > 2  # the minute's window, not the two seconds'


async def test_the_purge_deletes_ended_windows_and_keeps_open_ones(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    async with limited_app(settings, prepared) as app:
        database = app.ctx.database
        tag = secrets.token_hex(4)
        now = utcnow()
        async with database.system_session() as s:
            s.add_all(
                [
                    RateLimitCounter(
                        key=f"{tag}/ended", hits=9, expires_at=now - timedelta(seconds=1)
                    ),
                    RateLimitCounter(
                        key=f"{tag}/open", hits=9, expires_at=now + timedelta(minutes=1)
                    ),
                ]
            )
        await purge_expired_counters(database)
        async with database.system_session() as s:
            left = (
                await s.scalars(
                    select(RateLimitCounter.key).where(RateLimitCounter.key.startswith(tag))
                )
            ).all()
            await s.execute(delete(RateLimitCounter).where(RateLimitCounter.key.startswith(tag)))
        assert left == [f"{tag}/open"]
