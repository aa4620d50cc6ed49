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
from tests.support.linking import (
    account_number,
    complete,
    link,
    provider_step,
    providers_of,
    refused_as_invalid_grant,
    start_link,
)
from tests.support.oauth_standins import StandIn, bitbucket_account, github_account
from tests.support.providers import sign_in_with
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


async def test_the_provider_step_in_another_persons_browser_links_nothing(
    five: httpx.AsyncClient, github: StandIn, bitbucket: StandIn
) -> None:
    """The reported attack: signed in as A, start a link, send the provider URL to V ("Sign in
    with GitHub"). V's provider step attaches nothing to A (before issue 12 it did), it earns V's
    browser only a link code sent to the start's redirect_uri, and V's later sign-in lands in
    V's own account."""
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
    url, _ = await start_link(five, attacker["_headers"], "github")
    landing = await provider_step(five, url, "github", "victim")  # at the start's redirect_uri

    # then: the provider step links nothing; the code is not in the URL the attacker handed out
    assert await providers_of(five, attacker) == ["github"]
    assert sorted(landing) == ["code", "state"], landing
    assert landing["code"][0] not in url
    # signing in with GitHub later lands the victim in their own account (verified on both
    # sides), never in the attacker's
    later = await sign_in_with(five, "github", "victim")
    assert later["id"] == victim["id"] != attacker["id"]
    assert await providers_of(five, attacker) == ["github"]
    assert await providers_of(five, victim) == ["bitbucket", "github"]


async def test_a_link_code_presented_first_by_another_account_is_refused_and_then_dead(
    five: httpx.AsyncClient, github: StandIn, bitbucket: StandIn
) -> None:
    """The user binding, apart from single use: the code's first presentation is by a signed-in
    account other than the one that started the link, with the start's right verifier, and it
    is refused for that reason alone; that refusal spends it, so the starter, with the same
    verifier, is refused next. (Not shown, because it is not so: a code that reaches its
    starter's client first is redeemed for the starter, whoever did the provider step. In the
    API flow the code goes only to the start's redirect_uri on the device of whoever did the
    provider step, and its secrecy is the last defence: docs/security.md A2, limit.)"""
    github.accounts["v2"] = github_account(account_number(), "v2", "v2@example.test", False)
    bitbucket.accounts["v2"] = bitbucket_account(str(uuid.uuid4()), "v2", "v2b@example.test", False)
    github.accounts["m2"] = github_account(account_number(), "m2", "m2@example.test", False)
    victim = await sign_in_with(five, "bitbucket", "v2")
    starter = await sign_in_with(five, "github", "m2")
    url, verifier = await start_link(five, starter["_headers"], "bitbucket")
    code = (await provider_step(five, url, "bitbucket", "v2"))["code"][0]

    first = await complete(five, victim["_headers"], "bitbucket", code, verifier)
    assert refused_as_invalid_grant(first), first.text
    assert "started by another account" in first.json()["detail"]
    assert await providers_of(five, victim) == ["bitbucket"]

    then = await complete(five, starter["_headers"], "bitbucket", code, verifier)
    assert refused_as_invalid_grant(then), then.text
    assert "unknown, used or expired" in then.json()["detail"]
    assert await providers_of(five, starter) == ["github"]


async def test_a_link_code_presented_with_a_token_of_an_ended_session_is_spent(
    five: httpx.AsyncClient, github: StandIn, bitbucket: StandIn
) -> None:
    """A 401 for an ended device session still spends the code: its new session's redemption,
    same user and right verifier, is refused."""
    github.accounts["ended"] = github_account(account_number(), "ended", "e1@example.test", False)
    bitbucket.accounts["ended"] = bitbucket_account(
        str(uuid.uuid4()), "ended", "e2@example.test", False
    )
    me = await sign_in_with(five, "github", "ended")
    url, verifier = await start_link(five, me["_headers"], "bitbucket")
    code = (await provider_step(five, url, "bitbucket", "ended"))["code"][0]
    assert (await five.post("/v1/auth/logout", headers=me["_headers"])).status_code == 204

    ended = await complete(five, me["_headers"], "bitbucket", code, verifier)
    assert ended.status_code == 401, ended.text
    again = await sign_in_with(five, "github", "ended")
    assert again["id"] == me["id"]
    late = await complete(five, again["_headers"], "bitbucket", code, verifier)
    assert refused_as_invalid_grant(late), late.text
    assert await providers_of(five, again) == ["github"]


async def test_a_link_code_presented_for_an_unknown_provider_is_spent(
    five: httpx.AsyncClient, github: StandIn, bitbucket: StandIn
) -> None:
    """A 404 for a provider name we do not know still spends the code."""
    github.accounts["lost"] = github_account(account_number(), "lost", "x1@example.test", False)
    bitbucket.accounts["lost"] = bitbucket_account(
        str(uuid.uuid4()), "lost", "x2@example.test", False
    )
    me = await sign_in_with(five, "github", "lost")
    url, verifier = await start_link(five, me["_headers"], "bitbucket")
    code = (await provider_step(five, url, "bitbucket", "lost"))["code"][0]

    unknown = await complete(five, me["_headers"], "nosuchprovider", code, verifier)
    assert unknown.status_code == 404, unknown.text
    late = await complete(five, me["_headers"], "bitbucket", code, verifier)
    assert refused_as_invalid_grant(late), late.text
    assert await providers_of(five, me) == ["github"]


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
