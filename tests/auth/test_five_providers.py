"""The five named providers (A1), each through its real protocol against a local stand-in:
Google, GitLab and LinkedIn as OpenID Connect (the local OIDC provider), GitHub and Bitbucket as
OAuth 2.0 with their user and e-mail APIs (tests/support/oauth_standins.py)."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.oauth_standins import (
    OIDC_NAMED,
    StandIn,
    github_account,
)
from tests.support.providers import at_provider, sign_in_with, start

pytestmark = pytest.mark.promise("A1")


async def test_all_five_are_offered(five: httpx.AsyncClient) -> None:
    names = {p["name"] for p in (await five.get("/v1/auth/providers")).json()["items"]}
    assert {"google", "gitlab", "linkedin", "github", "bitbucket"} <= names


@pytest.mark.parametrize("provider", OIDC_NAMED)
async def test_the_openid_connect_providers_sign_in(five: httpx.AsyncClient, provider: str) -> None:
    location, _ = await start(five, provider)
    query = parse_qs(urlsplit(location).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"]
    who = f"{provider}-{secrets.token_hex(4)}@example.test"
    me = await sign_in_with(five, provider, who)
    assert me["id"]


async def test_github_signs_in_by_account_id_with_the_verified_primary_email(
    five: httpx.AsyncClient, github: StandIn
) -> None:
    me = await sign_in_with(five, "github", "octo")
    assert me["email"] == "octo@example.test" and me["email_verified"] is True
    # The login name changes; the numeric id does not: still the same account.
    github.accounts["octo"]["user"]["login"] = "octo-renamed"
    assert (await sign_in_with(five, "github", "octo"))["id"] == me["id"]


async def test_an_unverified_github_email_is_not_taken_as_verified(
    five: httpx.AsyncClient,
) -> None:
    me = await sign_in_with(five, "github", "shy")
    assert me["email_verified"] is False


async def test_bitbucket_signs_in_with_its_confirmed_email(five: httpx.AsyncClient) -> None:
    me = await sign_in_with(five, "bitbucket", "bucky")
    assert me["email"] == "bucky@example.test" and me["email_verified"] is True


async def test_an_answer_for_another_provider_is_refused(five: httpx.AsyncClient) -> None:
    """Mix-up defence (RFC 9700 4.4): GitHub's state presented at Bitbucket's callback."""
    location, _ = await start(five, "github")
    back = urlsplit(await at_provider(location, "github", "octo"))
    mixed = await five.get(f"/v1/auth/bitbucket/callback?{back.query}")
    assert mixed.status_code == 400
    assert mixed.json()["type"].endswith("/invalid-state")


async def test_a_failing_provider_api_signs_nobody_in(
    five: httpx.AsyncClient, github: StandIn
) -> None:
    github.accounts["ghost"] = github_account(777, "ghost", "ghost@example.test", True)
    location, _ = await start(five, "github")
    back = urlsplit(await at_provider(location, "github", "ghost"))
    del github.accounts["ghost"]  # the user API now answers 401 for its token
    landing = await five.get(f"{back.path}?{back.query}")
    assert landing.status_code == 302
    query = parse_qs(urlsplit(landing.headers["location"]).query)
    assert query.get("error") == ["server_error"] and "code" not in query


@pytest.mark.parametrize("provider", [*OIDC_NAMED, "github", "bitbucket"])
async def test_rotation_and_reuse_detection_hold_for_every_provider(
    five: httpx.AsyncClient, provider: str
) -> None:
    """A4 whatever the provider: a refresh rotates; presenting the old token again ends the
    device session, and its newest access token with it."""
    who = (
        "octo"
        if provider == "github"
        else "bucky"
        if provider == "bitbucket"
        else (f"{provider}-{secrets.token_hex(4)}@example.test")
    )
    me = await sign_in_with(five, provider, who)
    old = me["_tokens"]["refresh_token"]
    rotated = await five.post(
        "/v1/auth/token", json={"grant_type": "refresh_token", "refresh_token": old}
    )
    assert rotated.status_code == 200, rotated.text
    newest = {"authorization": f"Bearer {rotated.json()['access_token']}"}
    assert (await five.get("/v1/me", headers=newest)).status_code == 200
    reused = await five.post(
        "/v1/auth/token", json={"grant_type": "refresh_token", "refresh_token": old}
    )
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert (await five.get("/v1/me", headers=newest)).status_code == 401
