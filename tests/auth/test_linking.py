"""Account linking (A2): a new provider identity joins an account only when both the provider and
we have verified the e-mail; the pre-hijack case makes a separate account; identities are listed
and unlinked, never the last one."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.auth.test_five_providers import sign_in_with
from tests.support.oauth_standins import StandIn, bitbucket_account, github_account

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
