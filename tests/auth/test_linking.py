"""Account linking (A2): a new provider identity joins an account only when both the provider and
we have verified the e-mail; the pre-hijack case makes a separate account; identities are listed
and unlinked, never the last one."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

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


async def link(
    api: httpx.AsyncClient, headers: dict[str, str], provider: str, who: str
) -> dict[str, list[str]]:
    """Link `provider` (signed in there as `who`) from a signed-in session; the client's landing."""
    _, challenge = pkce_pair()
    started = await api.post(
        f"/v1/me/identities/{provider}",
        headers=headers,
        json={"redirect_uri": REDIRECT_URI, "state": "link-1", "code_challenge": challenge},
    )
    assert started.status_code == 200, started.text
    async with httpx.AsyncClient() as browser:
        at_provider = await browser.get(started.json()["authorize_url"] + "&as=" + who)
    back = urlsplit(at_provider.headers["location"])
    landing = await api.get(f"{back.path}?{back.query}")
    assert landing.status_code == 302, landing.text
    return parse_qs(urlsplit(landing.headers["location"]).query)


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

    assert await link(five, me["_headers"], "bitbucket", "linker") == {
        "linked": ["bitbucket"],
        "state": ["link-1"],
    }
    assert (await sign_in_with(five, "bitbucket", "linker"))["id"] == me["id"]
    providers = [
        i["provider"]
        for i in (await five.get("/v1/me/identities", headers=me["_headers"])).json()["items"]
    ]
    assert sorted(providers) == ["bitbucket", "github"]

    # An identity another account signs in with stays with that account.
    refused = await link(five, me["_headers"], "bitbucket", "taken")
    assert refused.get("error") == ["identity_in_use"] and "linked" not in refused
    assert (await sign_in_with(five, "bitbucket", "taken"))["id"] == owner["id"]
    unauthenticated = await five.post(
        "/v1/me/identities/bitbucket",
        json={"redirect_uri": REDIRECT_URI, "state": "x", "code_challenge": "y" * 43},
    )
    assert unauthenticated.status_code == 401
