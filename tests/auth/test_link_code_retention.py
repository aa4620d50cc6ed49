"""What a link code keeps, and for how long (A2, V3): a link code holds the provider account's
subject and e-mail, and in the attack case that is a stranger's data under the attacker's
user_id. A spent code leaves no row; expired codes and sign-in requests are purged when a sign-in
or a link starts; erasing an account deletes the link codes it started and those that name it."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text

from offcoder.context import AppContext
from tests.support.linking import (
    account_number,
    complete,
    link,
    provider_step,
    refused_as_invalid_grant,
    start_link,
)
from tests.support.oauth_standins import StandIn, bitbucket_account, github_account
from tests.support.providers import sign_in_with, start
from tests.support.signin import pkce_pair

pytestmark = [pytest.mark.promise("A2"), pytest.mark.promise("V3")]


def sha256(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


async def link_code_rows(context: AppContext, where: str, **params: Any) -> int:
    async with context.database.system_session() as session:
        found = await session.scalar(
            text(f"SELECT count(*) FROM identity_link_codes WHERE {where}"),
            params,
        )
    return int(found or 0)


async def age(context: AppContext, table: str, key: str, value: bytes) -> None:
    """Move a row's expiry two hours back (the row is aged; its code or state is untouched)."""
    async with context.database.system_session() as session:
        aged = await session.execute(
            text(f"UPDATE {table} SET expires_at = now() - interval '2 hours' WHERE {key} = :v"),
            {"v": value},
        )
        assert aged.rowcount == 1  # type: ignore[attr-defined]


async def request_rows(context: AppContext, state_hash: bytes) -> int:
    async with context.database.system_session() as session:
        found = await session.scalar(
            text("SELECT count(*) FROM authorization_requests WHERE state_hash = :h"),
            {"h": state_hash},
        )
    return int(found or 0)


async def test_a_spent_link_code_leaves_no_row_and_so_no_email(
    five: httpx.AsyncClient, context: AppContext, github: StandIn, bitbucket: StandIn
) -> None:
    address = f"spent-{uuid.uuid4().hex[:8]}@example.test"
    github.accounts["spent"] = github_account(account_number(), "spent", "s@example.test", False)
    bitbucket.accounts["spent"] = bitbucket_account(str(uuid.uuid4()), "spent", address, False)
    me = await sign_in_with(five, "github", "spent")

    # a refused redemption (a wrong verifier)
    url, _ = await start_link(five, me["_headers"], "bitbucket")
    code = (await provider_step(five, url, "bitbucket", "spent"))["code"][0]
    assert await link_code_rows(context, "code_hash = :h", h=sha256(code)) == 1
    wrong, _ = pkce_pair()
    refused = await complete(five, me["_headers"], "bitbucket", code, wrong)
    assert refused_as_invalid_grant(refused), refused.text
    assert await link_code_rows(context, "code_hash = :h", h=sha256(code)) == 0

    # a redemption that links
    linked = await link(five, me["_headers"], "bitbucket", "spent")
    assert linked.status_code == 201, linked.text
    assert await link_code_rows(context, "email = :e", e=address) == 0
    assert await link_code_rows(context, "user_id = :u", u=uuid.UUID(me["id"])) == 0


async def test_expired_link_codes_and_sign_in_requests_are_purged_when_a_sign_in_or_link_starts(
    five: httpx.AsyncClient, context: AppContext, github: StandIn, bitbucket: StandIn
) -> None:
    github.accounts["old"] = github_account(account_number(), "old", "old1@example.test", False)
    bitbucket.accounts["old"] = bitbucket_account(
        str(uuid.uuid4()), "old", "old2@example.test", False
    )
    me = await sign_in_with(five, "github", "old")

    for trigger in ("sign-in", "link"):
        # given: an expired link code, an expired sign-in request, and a live link code
        url, _ = await start_link(five, me["_headers"], "bitbucket")
        expired_code = (await provider_step(five, url, "bitbucket", "old"))["code"][0]
        await age(context, "identity_link_codes", "code_hash", sha256(expired_code))
        location, _ = await start(five, "github")
        state = parse_qs(urlsplit(location).query)["state"][0]
        await age(context, "authorization_requests", "state_hash", sha256(state))
        url, _ = await start_link(five, me["_headers"], "bitbucket")
        live_code = (await provider_step(five, url, "bitbucket", "old"))["code"][0]

        # when: a sign-in or a link starts
        if trigger == "sign-in":
            await start(five, "github")
        else:
            await start_link(five, me["_headers"], "bitbucket")

        # then: the expired rows are gone, the live one stays
        assert await link_code_rows(context, "code_hash = :h", h=sha256(expired_code)) == 0
        assert await request_rows(context, sha256(state)) == 0
        assert await link_code_rows(context, "code_hash = :h", h=sha256(live_code)) == 1


async def test_erasure_leaves_no_link_code_of_the_user_nor_naming_them(
    five: httpx.AsyncClient, context: AppContext, github: StandIn, bitbucket: StandIn
) -> None:
    """The attack case leaves a row holding the victim's e-mail and GitHub subject under the
    attacker's user_id; the victim's erasure deletes it with the victim's own link codes, and
    the attacker's erasure deletes the attacker's."""
    address = f"erased-{uuid.uuid4().hex[:8]}@example.test"
    subject = str(account_number())
    github.accounts["erased"] = github_account(int(subject), "erased", address, True)
    bitbucket.accounts["erased"] = bitbucket_account(str(uuid.uuid4()), "erased", address, True)
    github.accounts["taker"] = github_account(account_number(), "taker", "tk@example.test", True)
    victim = await sign_in_with(five, "bitbucket", "erased")
    attacker = await sign_in_with(five, "github", "taker")

    # the attacker's link, its provider step done by the victim, never redeemed
    url, _ = await start_link(five, attacker["_headers"], "github")
    await provider_step(five, url, "github", "erased")
    # a link the victim started, never redeemed
    url, _ = await start_link(five, victim["_headers"], "github")
    await provider_step(five, url, "github", "erased")
    victim_id, attacker_id = uuid.UUID(victim["id"]), uuid.UUID(attacker["id"])
    assert await link_code_rows(context, "user_id = :u", u=victim_id) == 1
    assert await link_code_rows(context, "user_id = :u AND email = :e", u=attacker_id, e=address)

    assert (await five.delete("/v1/me", headers=victim["_headers"])).status_code == 204
    assert await link_code_rows(context, "user_id = :u", u=victim_id) == 0
    assert await link_code_rows(context, "lower(email) = lower(:e)", e=address) == 0
    assert await link_code_rows(context, "provider = 'github' AND subject = :s", s=subject) == 0

    url, _ = await start_link(five, attacker["_headers"], "github")
    await provider_step(five, url, "github", "taker")
    assert await link_code_rows(context, "user_id = :u", u=attacker_id) == 1
    assert (await five.delete("/v1/me", headers=attacker["_headers"])).status_code == 204
    assert await link_code_rows(context, "user_id = :u", u=attacker_id) == 0
