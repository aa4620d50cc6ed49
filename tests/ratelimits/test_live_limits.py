"""Live-log connections are limited per connection: every event a client sends counts. A
refused event is answered `rate_limited` with the wait; a connection that keeps sending refused
events is told so (`live:error`) and disconnected. Another connection is not affected."""

from __future__ import annotations

import asyncio
from typing import Any

from offcoder.config import Settings
from offcoder.db.bootstrap import PreparedDatabase
from tests.support.live_logs import Watcher
from tests.support.ratelimits import limited_app
from tests.support.served import served
from tests.support.signin import signed_in_user

INVALID = {"ok": False, "error": "invalid"}  # an unsubscribe naming no job: admitted, cheap


class Recorder(Watcher):
    """A watcher that also records `live:error` events."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[dict[str, Any]] = []
        self.client.on("live:error", self.errors.append)

    async def send(self, event: str, data: Any = None) -> dict[str, Any]:
        answer: dict[str, Any] = await self.client.call(event, data, timeout=10)
        return answer


def refused(answer: dict[str, Any]) -> bool:
    return (answer["ok"], answer["error"]) == (False, "rate_limited") and 1 <= answer[
        "retry_after"
    ] <= 60


async def test_events_past_the_limit_are_refused_then_the_connection_is_dropped(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    overrides = {"rate_limit_live_messages": "3/minute", "live_refusals_before_disconnect": 3}
    async with limited_app(settings, prepared, **overrides) as limited:
        user = await signed_in_user(limited.ctx)
        async with served(limited.app) as url:
            flooder, other = Recorder(), Recorder()
            await flooder.connect(url, user.access_token)
            await other.connect(url, user.access_token)
            try:
                # given three events, of any kind
                assert await flooder.send("job:unsubscribe", {}) == INVALID
                assert (await flooder.send("no:such-event"))["error"] == "unknown_event"
                assert await flooder.send("job:unsubscribe", {}) == INVALID

                # then the next two are refused with the wait, and the connection stays
                assert refused(await flooder.send("job:unsubscribe", {}))
                assert refused(await flooder.send("no:such-event"))
                assert flooder.client.connected and flooder.errors == []
                # while another connection of the same user is served
                assert await other.send("job:unsubscribe", {}) == INVALID

                # and the third refused event in a row drops it, saying why
                assert refused(await flooder.send("job:unsubscribe", {}))
                async with asyncio.timeout(5):
                    await flooder.disconnected.wait()
                assert flooder.errors == [
                    {"error": "rate_limited", "detail": "Too many refused events."}
                ]
                assert other.client.connected
                assert await other.send("job:unsubscribe", {}) == INVALID
            finally:
                for watcher in (flooder, other):
                    await watcher.client.disconnect()


async def test_an_admitted_event_ends_a_run_of_refusals(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    """A client that waits as told is never dropped: only refusals in a row count."""
    overrides = {
        "live_subscribes_per_minute": 1,
        "rate_limit_live_messages": "10/minute",
        "live_refusals_before_disconnect": 2,
    }
    async with limited_app(settings, prepared, **overrides) as limited:
        user = await signed_in_user(limited.ctx)
        async with served(limited.app) as url:
            watcher = Recorder()
            await watcher.connect(url, user.access_token)
            try:
                # a subscribe of its own cap (refused ones count there too)
                assert await watcher.send("job:subscribe", {}) == INVALID
                assert refused(await watcher.send("job:subscribe", {}))
                assert await watcher.send("job:unsubscribe", {}) == INVALID  # admitted
                assert refused(await watcher.send("job:subscribe", {}))
                await asyncio.sleep(0.3)
                assert watcher.client.connected and watcher.errors == []
                assert refused(await watcher.send("job:subscribe", {}))  # two in a row
                async with asyncio.timeout(5):
                    await watcher.disconnected.wait()
                assert [e["error"] for e in watcher.errors] == ["rate_limited"]
            finally:
                await watcher.client.disconnect()
