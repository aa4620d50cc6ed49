"""Strict limits of their own for second-factor verification (per user) and for refresh-token
grants (per client address), counted before the factor's row or the token is touched."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from offcoder.auth.models import MfaTotp
from offcoder.config import Settings
from offcoder.db.bootstrap import PreparedDatabase
from tests.support.mfa import enrolled, next_code
from tests.support.ratelimits import an_address, assert_rate_limited, limited_app
from tests.support.signin import signed_in_user
from tests.support.users import user_id


@pytest.mark.promise("A5")
async def test_second_factor_attempts_are_limited_per_user_before_the_factor_is_touched(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    async with limited_app(settings, prepared, rate_limit_mfa_verify="2/minute") as limited:
        client = await limited.at(an_address())
        alice, bob = await signed_in_user(limited.ctx), await signed_in_user(limited.ctx)
        totp, _ = await enrolled(client, alice)
        await enrolled(client, bob)
        right = next_code(totp)
        wrong = "000000" if right != "000000" else "111111"

        # given two wrong codes (each counted by the factor's own lockout too)
        for _ in range(2):
            answer = await client.post(
                "/v1/auth/mfa/verify", headers=alice.headers, json={"code": wrong}
            )
            assert answer.status_code == 400, answer.text

        # when a third attempt comes within the minute, even with the right code
        refused = await client.post(
            "/v1/auth/mfa/verify", headers=alice.headers, json={"code": right}
        )

        # then it is refused by the limit, not by the lockout, and the factor never saw it
        assert_rate_limited(refused)
        async with limited.ctx.database.system_session() as s:
            factor = await s.scalar(
                select(MfaTotp).where(MfaTotp.user_id == await user_id(client, alice))
            )
        assert factor is not None and (factor.failures, factor.locked_until) == (2, None)
        # and the rest of the API still serves alice, and bob verifies as usual
        assert (await client.get("/v1/me", headers=alice.headers)).status_code == 200
        assert (
            await client.post("/v1/auth/mfa/verify", headers=bob.headers, json={"code": "123456"})
        ).status_code == 400


@pytest.mark.promise("A4")
async def test_refreshes_are_limited_per_address_and_a_refused_one_spends_nothing(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    async with limited_app(settings, prepared, rate_limit_token_refresh="2/minute") as limited:
        here, there = await limited.at(an_address()), await limited.at(an_address())
        user = await signed_in_user(limited.ctx)
        token = user.refresh_token

        # given two refreshes from one address
        for _ in range(2):
            rotated = await here.post(
                "/v1/auth/token", json={"grant_type": "refresh_token", "refresh_token": token}
            )
            assert rotated.status_code == 200, rotated.text
            token = rotated.json()["refresh_token"]

        # when a third comes from it
        refused = await here.post(
            "/v1/auth/token", json={"grant_type": "refresh_token", "refresh_token": token}
        )

        # then it is refused, and the token it presented was not spent: it still works from
        # another address (a spent token would end the whole session as a theft)
        assert_rate_limited(refused)
        assert refused.json()["detail"].startswith("Too many token refreshes")
        again = await there.post(
            "/v1/auth/token", json={"grant_type": "refresh_token", "refresh_token": token}
        )
        assert again.status_code == 200, again.text


async def test_refreshes_and_sign_ins_are_counted_apart(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    """A device refreshing does not use up the address's sign-ins, nor the other way round."""
    overrides = {"rate_limit_token_refresh": "1/minute", "rate_limit_sign_in": "1/minute"}
    async with limited_app(settings, prepared, **overrides) as limited:
        client = await limited.at(an_address())
        user = await signed_in_user(limited.ctx)
        rotated = await client.post(
            "/v1/auth/token",
            json={"grant_type": "refresh_token", "refresh_token": user.refresh_token},
        )
        assert rotated.status_code == 200, rotated.text
        exchange = await client.post(
            "/v1/auth/token",
            json={"grant_type": "authorization_code", "code": "made-up", "code_verifier": "x"},
        )
        assert exchange.status_code == 400, exchange.text  # counted as a sign-in, not refused
        assert_rate_limited(
            await client.post(
                "/v1/auth/token",
                json={"grant_type": "authorization_code", "code": "c", "code_verifier": "x"},
            )
        )
