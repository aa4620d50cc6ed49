"""Account linking (A2): a new provider identity joins an account only when both the provider and
we have verified the e-mail; the pre-hijack case makes a separate account; identities are listed
and unlinked, never the last one. An explicit link is a two-step exchange bound to the user who
started it: the provider step hands the starting client a one-time link code, and only that
signed-in user, with the PKCE verifier of the start, turns it into a link."""

from __future__ import annotations

import hashlib
import uuid

import httpx
import pytest
from sqlalchemy import text

from offcoder.context import AppContext
from tests.auth.linking import (
    account_number,
    complete,
    link,
    provider_step,
    providers_of,
    refused_as_invalid_grant,
    start_link,
)
from tests.auth.test_five_providers import sign_in_with
from tests.support.oauth_standins import StandIn, bitbucket_account, github_account
from tests.support.signin import REDIRECT_URI, pkce_pair

pytestmark = pytest.mark.promise("A2")


async def test_a_verified_email_on_both_sides_links_to_the_same_account(
    five: httpx.AsyncClient, github: StandIn, bitbucket: StandIn
) -> None:
    address = f"dev-{uuid.uuid4().hex[:8]}@example.test"
    github.accounts["dev"] = github_account(4100 + len(github.accounts), "dev", address, True)
    bitbucket.accounts["dev"] = bitbucket_account(str(uuid.uuid4()), "dev", address, True)
    first = await sign_in_with(five, "github", "dev")
    second = await sign_in_with(five, "bitbucket", "dev")
    assert second["id"] == first["id"]


async def test_an_unverified_account_does_not_capture_a_later_verified_sign_in(
    five: httpx.AsyncClient, github: StandIn, bitbucket: StandIn
) -> None:
    """Pre-hijack: someone opens an account with the victim's address at a provider that did
    not verify it; the victim's later verified sign-in gets an account of their own."""
    victim = f"victim-{uuid.uuid4().hex[:8]}@example.test"
    github.accounts["squatter"] = github_account(5100, "squatter", victim, verified=False)
    bitbucket.accounts["victim"] = bitbucket_account(str(uuid.uuid4()), "victim", victim, True)
    squatter = await sign_in_with(five, "github", "squatter")
    real = await sign_in_with(five, "bitbucket", "victim")
    assert real["id"] != squatter["id"]
    assert real["email_verified"] is True and squatter["email_verified"] is False


async def test_identities_are_listed_and_unlinked_but_never_the_last(
    five: httpx.AsyncClient, github: StandIn, bitbucket: StandIn
) -> None:
    address = f"two-{uuid.uuid4().hex[:8]}@example.test"
    github.accounts["two"] = github_account(6100, "two", address, True)
    bitbucket.accounts["two"] = bitbucket_account(str(uuid.uuid4()), "two", address, True)
    await sign_in_with(five, "github", "two")
    me = await sign_in_with(five, "bitbucket", "two")
    headers = me["_headers"]
    listed = (await five.get("/v1/me/identities", headers=headers)).json()["items"]
    assert sorted(i["provider"] for i in listed) == ["bitbucket", "github"]
    assert all("token" not in key for item in listed for key in item)

    other = await sign_in_with(five, "github", "octo")
    foreign = await five.delete(f"/v1/me/identities/{listed[0]['id']}", headers=other["_headers"])
    assert foreign.status_code == 404

    github_identity = next(i for i in listed if i["provider"] == "github")
    assert (
        await five.delete(f"/v1/me/identities/{github_identity['id']}", headers=headers)
    ).status_code == 204
    remaining = (await five.get("/v1/me/identities", headers=headers)).json()["items"]
    assert [i["provider"] for i in remaining] == ["bitbucket"]
    last = await five.delete(f"/v1/me/identities/{remaining[0]['id']}", headers=headers)
    assert last.status_code == 409


async def test_a_signed_in_user_links_another_provider_but_cannot_take_someone_elses(
    five: httpx.AsyncClient, github: StandIn, bitbucket: StandIn
) -> None:
    # Different, unverified addresses: only the explicit link can join them.
    github.accounts["linker"] = github_account(7100, "linker", "l1@example.test", False)
    bitbucket.accounts["linker"] = bitbucket_account(
        str(uuid.uuid4()), "lk", "l2@example.test", False
    )
    bitbucket.accounts["taken"] = bitbucket_account(
        str(uuid.uuid4()), "tk", "t@example.test", False
    )
    me = await sign_in_with(five, "github", "linker")
    owner = await sign_in_with(five, "bitbucket", "taken")

    linked = await link(five, me["_headers"], "bitbucket", "linker")
    assert linked.status_code == 201, linked.text
    assert linked.json()["provider"] == "bitbucket"
    assert (await sign_in_with(five, "bitbucket", "linker"))["id"] == me["id"]
    assert await providers_of(five, me) == ["bitbucket", "github"]

    # An identity another account signs in with stays with that account.
    refused = await link(five, me["_headers"], "bitbucket", "taken")
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("/identity-in-use")
    assert (await sign_in_with(five, "bitbucket", "taken"))["id"] == owner["id"]
    assert await providers_of(five, me) == ["bitbucket", "github"]

    unauthenticated = await five.post(
        "/v1/me/identities/bitbucket",
        json={"redirect_uri": REDIRECT_URI, "state": "x", "code_challenge": "y" * 43},
    )
    assert unauthenticated.status_code == 401
    anonymous = await five.post(
        "/v1/me/identities/bitbucket/complete", json={"code": "x", "code_verifier": "y" * 43}
    )
    assert anonymous.status_code == 401


async def test_a_link_started_by_one_account_never_attaches_another_persons_identity(
    five: httpx.AsyncClient, github: StandIn, bitbucket: StandIn
) -> None:
    """The reported attack: signed in as A, start a link, send the provider URL to V ("Sign in
    with GitHub"). V's provider step must not attach V's identity to A, and V's later sign-in
    must land in V's own account."""
    # given: the victim's account (Bitbucket) and GitHub account share a verified address; the
    # victim has never signed in with GitHub here; the attacker has an account of their own.
    address = f"victim-{uuid.uuid4().hex[:8]}@example.test"
    github.accounts["victim"] = github_account(account_number(), "victim", address, True)
    bitbucket.accounts["victim"] = bitbucket_account(str(uuid.uuid4()), "victim", address, True)
    github.accounts["mallory"] = github_account(
        account_number(), "mallory", "mallory@example.test", True
    )
    victim = await sign_in_with(five, "bitbucket", "victim")
    attacker = await sign_in_with(five, "github", "mallory")

    # when: the attacker starts a link and the victim signs in at GitHub with the URL
    url, verifier = await start_link(five, attacker["_headers"], "github")
    landing = await provider_step(five, url, "github", "victim")

    # then: the provider step links nothing; the victim's browser holds a one-time code
    assert await providers_of(five, attacker) == ["github"]
    assert sorted(landing) == ["code", "state"], landing
    code = landing["code"][0]
    assert code not in url

    # the victim's own client, signed in as the victim, cannot redeem it, even holding the
    # verifier: the code belongs to the user who started the link
    as_victim = await complete(five, victim["_headers"], "github", code, verifier)
    assert refused_as_invalid_grant(as_victim), as_victim.text
    # and a code presented once is spent, whoever presented it
    as_attacker = await complete(five, attacker["_headers"], "github", code, verifier)
    assert refused_as_invalid_grant(as_attacker), as_attacker.text
    assert await providers_of(five, attacker) == ["github"]
    assert await providers_of(five, victim) == ["bitbucket"]

    # signing in with GitHub later lands the victim in their own account (verified on both
    # sides), never in the attacker's
    later = await sign_in_with(five, "github", "victim")
    assert later["id"] == victim["id"] != attacker["id"]
    assert await providers_of(five, attacker) == ["github"]


async def test_a_link_code_without_its_verifier_links_nothing(
    five: httpx.AsyncClient, github: StandIn, bitbucket: StandIn
) -> None:
    """A code that leaked (with a token of the account that started the link) is useless
    without the PKCE verifier that only the starting client holds; the attempt spends it."""
    github.accounts["holder"] = github_account(account_number(), "holder", "h1@example.test", True)
    bitbucket.accounts["holder"] = bitbucket_account(
        str(uuid.uuid4()), "holder", "h2@example.test", True
    )
    holder = await sign_in_with(five, "github", "holder")
    url, verifier = await start_link(five, holder["_headers"], "bitbucket")
    code = (await provider_step(five, url, "bitbucket", "holder"))["code"][0]

    guessed, _ = pkce_pair()
    wrong = await complete(five, holder["_headers"], "bitbucket", code, guessed)
    assert refused_as_invalid_grant(wrong), wrong.text
    right_but_late = await complete(five, holder["_headers"], "bitbucket", code, verifier)
    assert refused_as_invalid_grant(right_but_late), right_but_late.text
    assert await providers_of(five, holder) == ["github"]


async def test_a_link_code_works_once_and_only_as_a_link_code(
    five: httpx.AsyncClient, github: StandIn, bitbucket: StandIn
) -> None:
    github.accounts["once"] = github_account(account_number(), "once", "o1@example.test", False)
    bitbucket.accounts["once"] = bitbucket_account(
        str(uuid.uuid4()), "once", "o2@example.test", False
    )
    me = await sign_in_with(five, "github", "once")
    url, verifier = await start_link(five, me["_headers"], "bitbucket")
    code = (await provider_step(five, url, "bitbucket", "once"))["code"][0]

    # A link code is not a sign-in code, and it names its provider.
    as_sign_in = await five.post(
        "/v1/auth/token",
        json={"grant_type": "authorization_code", "code": code, "code_verifier": verifier},
    )
    assert as_sign_in.status_code == 400
    other_provider = await complete(five, me["_headers"], "github", code, verifier)
    assert refused_as_invalid_grant(other_provider), other_provider.text

    url, verifier = await start_link(five, me["_headers"], "bitbucket")
    code = (await provider_step(five, url, "bitbucket", "once"))["code"][0]
    first = await complete(five, me["_headers"], "bitbucket", code, verifier)
    assert first.status_code == 201, first.text
    again = await complete(five, me["_headers"], "bitbucket", code, verifier)
    assert refused_as_invalid_grant(again), again.text


async def test_a_link_code_expires(
    five: httpx.AsyncClient, context: AppContext, github: StandIn, bitbucket: StandIn
) -> None:
    github.accounts["slow"] = github_account(account_number(), "slow", "s1@example.test", False)
    bitbucket.accounts["slow"] = bitbucket_account(
        str(uuid.uuid4()), "slow", "s2@example.test", False
    )
    me = await sign_in_with(five, "github", "slow")
    url, verifier = await start_link(five, me["_headers"], "bitbucket")
    code = (await provider_step(five, url, "bitbucket", "slow"))["code"][0]

    # given: the code's lifetime has passed (the row is aged; the code itself is untouched)
    async with context.database.system_session() as session:
        aged = await session.execute(
            text(
                "UPDATE identity_link_codes SET expires_at = now() - interval '1 second'"
                " WHERE code_hash = :h"
            ),
            {"h": hashlib.sha256(code.encode()).digest()},
        )
        assert aged.rowcount == 1  # type: ignore[attr-defined]

    late = await complete(five, me["_headers"], "bitbucket", code, verifier)
    assert refused_as_invalid_grant(late), late.text
    assert await providers_of(five, me) == ["github"]
