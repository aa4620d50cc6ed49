"""The authenticated API is limited per user (Coder allows 512 a minute; so do we by default):
every request with a verified access token counts, whichever of the user's devices sent it."""

from __future__ import annotations

from offcoder.config import Settings
from offcoder.db.bootstrap import PreparedDatabase
from tests.support.ratelimits import an_address, assert_rate_limited, limited_app
from tests.support.signin import signed_in_user


async def test_a_user_past_the_limit_is_refused_and_another_is_not(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    async with limited_app(settings, prepared, rate_limit_api="4/minute") as limited:
        alice, bob = await signed_in_user(limited.ctx), await signed_in_user(limited.ctx)
        phone, laptop = await limited.at(an_address()), await limited.at(an_address())

        # given alice's four calls, from two devices at two addresses
        for client in (phone, laptop, phone, laptop):
            ok = await client.get("/v1/me", headers=alice.headers)
            assert ok.status_code == 200, ok.text

        # then her fifth is refused, on any route, whatever the address
        assert_rate_limited(await phone.get("/v1/projects", headers=alice.headers))
        assert_rate_limited(
            await (await limited.at(an_address())).get("/v1/me", headers=alice.headers)
        )
        # and bob, on the same address as her phone, is served
        assert (await phone.get("/v1/me", headers=bob.headers)).status_code == 200


async def test_a_refused_call_opens_no_transaction_and_changes_nothing(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    async with limited_app(settings, prepared, rate_limit_api="1/minute") as limited:
        alice = await signed_in_user(limited.ctx)
        client = await limited.at(an_address())
        assert (await client.get("/v1/me", headers=alice.headers)).status_code == 200
        refused = await client.post(
            "/v1/projects", headers=alice.headers, json={"name": "not-made"}
        )
        assert_rate_limited(refused)
    async with limited_app(settings, prepared) as unlimited:
        client = await unlimited.at(an_address())
        listed = (await client.get("/v1/projects", headers=alice.headers)).json()["items"]
        assert listed == []


async def test_calls_without_a_valid_token_spend_nobody_s_budget(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    async with limited_app(settings, prepared, rate_limit_api="2/minute") as limited:
        alice = await signed_in_user(limited.ctx)
        client = await limited.at(an_address())
        forged = {"authorization": f"Bearer {alice.access_token[:-4]}AAAA"}
        for _ in range(5):
            assert (await client.get("/v1/me", headers=forged)).status_code == 401
        for _ in range(2):
            assert (await client.get("/v1/me", headers=alice.headers)).status_code == 200
        assert_rate_limited(await client.get("/v1/me", headers=alice.headers))
