"""The classes of limits, and the one call that counts a hit and refuses past a limit.

| class | counted per | where |
| --- | --- | --- |
| `sign_in` | client address | authorize, the callbacks (providers', console's), code exchange |
| `token_refresh` | client address | refresh-token grants at the token endpoint |
| `api` | user | every request with an access token (`auth.dependencies.access_claims`) |
| `mfa_verify` | user | second-factor verification |
| `device_code` | client address | device authorization requests (`POST /v1/auth/device/code`) |
| `device_verify` | user, and client address | user codes entered at `/console/device` |

Live-log connections are limited per connection, in their own process (`realtime/live.py`,
`ConnectionLimits` below): a connection lives in one process, so nothing needs sharing.
"""

from __future__ import annotations

import ipaddress
import math
import time
from enum import StrEnum

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import FixedWindowRateLimiter, RateLimiter
from limits.errors import StorageError

from offcoder.config import Settings
from offcoder.db.engine import Database
from offcoder.problems import TooManyRequests
from offcoder.ratelimits.storage import Counters

log = structlog.get_logger(__name__)


class LimitKind(StrEnum):
    sign_in = "sign-in"
    token_refresh = "token-refresh"  # noqa: S105 - a class name, not a secret
    api = "api"
    mfa_verify = "mfa-verify"
    device_code = "device-code"
    device_verify = "device-verify"


REFUSALS = {
    LimitKind.sign_in: "Too many sign-in requests from your network address.",
    LimitKind.token_refresh: "Too many token refreshes from your network address.",
    LimitKind.api: "Too many requests for your account.",
    LimitKind.mfa_verify: "Too many second-factor attempts for your account.",
    LimitKind.device_code: "Too many device sign-in requests from your network address.",
    LimitKind.device_verify: "Too many device codes tried; wait a little and try again.",
}

SETTINGS = {
    LimitKind.sign_in: "rate_limit_sign_in",
    LimitKind.token_refresh: "rate_limit_token_refresh",
    LimitKind.api: "rate_limit_api",
    LimitKind.mfa_verify: "rate_limit_mfa_verify",
    LimitKind.device_code: "rate_limit_device_code",
    LimitKind.device_verify: "rate_limit_device_verify",
}


def client_address(host: str | None) -> str:
    """Who an anonymous call is counted against: the ASGI peer address (uvicorn puts a
    forwarded address there only for the proxies it trusts). An IPv6 client is counted by its
    /64, the smallest network a home or phone is given: its other addresses are free to it."""
    if not host:
        return "unknown"  # no peer (a Unix socket): every such call shares one count
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]  # not an IP (a test transport's name): counted as written
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


async def retry_after(strategy: RateLimiter, item: RateLimitItem, *key: str) -> int:
    """Whole seconds until `item`'s window for `key` admits a call again (at least 1)."""
    stats = await strategy.get_window_stats(item, *key)
    return max(1, math.ceil(stats.reset_time - time.time()))


class RateLimits:
    """The request limits of one API process, counted in the deployment's shared storage."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self.counters = Counters.for_settings(settings, database)
        # Fixed windows: one counter per key, so a hit is one round trip (decision 0025).
        self.strategy = FixedWindowRateLimiter(self.counters.storage)
        self.limits = {
            kind: tuple(parse_many(getattr(settings, name))) for kind, name in SETTINGS.items()
        }

    async def hit(self, kind: LimitKind, who: str) -> None:
        """Count a call of `kind` by `who` (an address or a user id); past any of the class's
        limits, refuse it: 429 with Retry-After. A storage that cannot answer admits the call
        (and says so in the log): the limits shield the service, and a Redis outage must not
        become an outage of the whole API."""
        for item in self.limits[kind]:
            try:
                admitted = await self.strategy.hit(item, kind.value, who)
                if admitted:
                    continue
                wait = await retry_after(self.strategy, item, kind.value, who)
            except StorageError as exc:
                log.error(
                    "rate limit storage unavailable: call admitted",
                    kind=kind.value,
                    error=str(exc.storage_error),
                )
                return
            raise TooManyRequests(REFUSALS[kind], retry_after_s=wait)

    async def close(self) -> None:
        await self.counters.close()


class ConnectionLimits:
    """Limits per live-log connection, counted in this process's memory: a connection lives in
    one process, so there is nothing to share and no round trip to pay. Fixed windows here too:
    the library's moving windows in memory rescan every key's log on a worker thread after
    each hit, which costs more than it is worth for a flood guard."""

    def __init__(self) -> None:
        self.strategy = FixedWindowRateLimiter(MemoryStorage())

    async def hit(self, items: tuple[RateLimitItem, ...], *key: str) -> int | None:
        """Count a message; None when admitted, else the seconds to wait. A closed
        connection's windows are left to expire on their own (within their window)."""
        for item in items:
            if not await self.strategy.hit(item, *key):
                return await retry_after(self.strategy, item, *key)
        return None
