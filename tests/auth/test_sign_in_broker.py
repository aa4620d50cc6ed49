"""The sign-in broker (A1, A3): PKCE to the client, state and nonce to the provider, allow-list."""

from __future__ import annotations

import re
import secrets
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text

from offcoder.auth.oidc import OIDCProvider
from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from tests.support.apps import app_with
from tests.support.signin import REDIRECT_URI, one_time_code, pkce_pair, provider_consent, sign_in


def authorize_params(**overrides: str) -> dict[str, str]:
    _, challenge = pkce_pair()
    params = {
        "redirect_uri": REDIRECT_URI,
        "state": "client-state",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "device_name": "phone",
    }
    params.update(overrides)
    return params


async def exchange(api: httpx.AsyncClient, code: str, verifier: str) -> httpx.Response:
    return await api.post(
        "/v1/auth/token",
        json={"grant_type": "authorization_code", "code": code, "code_verifier": verifier},
    )


async def test_providers_lists_the_enabled_provider(api: httpx.AsyncClient) -> None:
    items = (await api.get("/v1/auth/providers")).json()["items"]
    assert [p["name"] for p in items] == ["oidc"]


async def test_authorize_sends_state_nonce_and_pkce_to_the_provider(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/auth/oidc/authorize", params=authorize_params())
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["state"][0]) >= 32 and len(query["nonce"][0]) >= 32
    assert query["state"] != ["client-state"], (
        "the client's state must not be reused towards the provider"
    )
    assert query["redirect_uri"] == ["http://testserver/v1/auth/oidc/callback"]


@pytest.mark.parametrize(
    "override",
    [
        {"redirect_uri": "https://evil.test/steal"},
        {"redirect_uri": REDIRECT_URI + "/../x"},
        # Loopback redirects (RFC 8252, the CLI) only on a loopback literal and our exact path:
        {"redirect_uri": "http://127.0.0.2:8123/offcoder-cli/callback"},
        {"redirect_uri": "http://localhost:8123/offcoder-cli/callback"},
        {"redirect_uri": "http://evil.test:8123/offcoder-cli/callback"},
        {"redirect_uri": "http://127.0.0.1:8123/offcoder-cli/callback/x"},
        {"redirect_uri": "http://127.0.0.1:8123/other"},
        {"redirect_uri": "https://127.0.0.1:8123/offcoder-cli/callback"},
        {"redirect_uri": "http://127.0.0.1:8123@evil.test/offcoder-cli/callback"},
        {"code_challenge_method": "plain"},
        {"code_challenge": "short"},
    ],
)
async def test_authorize_refuses_bad_requests_without_redirecting(
    api: httpx.AsyncClient, override: dict[str, str]
) -> None:
    response = await api.get("/v1/auth/oidc/authorize", params=authorize_params(**override))
    assert response.status_code == 400
    assert "location" not in response.headers


@pytest.mark.parametrize(
    "redirect_uri",
    ["http://127.0.0.1:49152/offcoder-cli/callback", "http://[::1]:8080/offcoder-cli/callback"],
)
async def test_a_loopback_redirect_for_native_clients_is_accepted(
    api: httpx.AsyncClient, redirect_uri: str
) -> None:
    response = await api.get(
        "/v1/auth/oidc/authorize", params=authorize_params(redirect_uri=redirect_uri)
    )
    assert response.status_code == 302, response.text


async def test_unknown_provider_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/auth/nope/authorize", params=authorize_params())
    assert response.status_code == 404


async def test_wrong_pkce_verifier_fails_and_burns_the_code(api: httpx.AsyncClient) -> None:
    verifier, challenge = pkce_pair()
    code = await one_time_code(api, f"pkce-{secrets.token_hex(4)}", challenge=challenge)
    wrong, _ = pkce_pair()
    refused = await exchange(api, code, wrong)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    # The code is one-time: after a failed attempt even the right verifier is too late.
    assert (await exchange(api, code, verifier)).status_code == 400


async def test_code_is_one_time(api: httpx.AsyncClient) -> None:
    verifier, challenge = pkce_pair()
    code = await one_time_code(api, f"once-{secrets.token_hex(4)}", challenge=challenge)
    assert (await exchange(api, code, verifier)).status_code == 200
    again = await exchange(api, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


async def test_callback_state_is_one_time_and_must_be_known(api: httpx.AsyncClient) -> None:
    start = await api.get("/v1/auth/oidc/authorize", params=authorize_params())
    callback = await provider_consent(start.headers["location"], f"state-{secrets.token_hex(4)}")
    parts = urlsplit(callback)
    assert (await api.get(f"{parts.path}?{parts.query}")).status_code == 302
    assert (await api.get(f"{parts.path}?{parts.query}")).status_code == 400
    forged = await api.get("/v1/auth/oidc/callback", params={"state": "made-up", "code": "x"})
    assert forged.status_code == 400
    assert forged.headers["content-type"].startswith("application/problem+json")


async def test_callback_for_another_provider_is_refused(
    settings: Settings, prepared: PreparedDatabase
) -> None:
    """Mix-up defence: a state issued for one provider cannot complete at another's callback."""
    async with app_with(settings, prepared) as (api, ctx):
        assert settings.oidc_issuer and settings.oidc_client_id
        ctx.providers["other"] = OIDCProvider(
            "other", "Other", settings.oidc_issuer, settings.oidc_client_id, "secret"
        )
        start = await api.get("/v1/auth/oidc/authorize", params=authorize_params())
        callback = urlsplit(await provider_consent(start.headers["location"], "mixup@example.test"))
        mixed = await api.get(f"/v1/auth/other/callback?{callback.query}")
        assert mixed.status_code == 400
        assert "location" not in mixed.headers


async def test_provider_denial_returns_to_the_client_with_an_error(api: httpx.AsyncClient) -> None:
    start = await api.get("/v1/auth/oidc/authorize", params=authorize_params(state="s1"))
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    back = await api.get(
        "/v1/auth/oidc/callback", params={"state": state, "error": "access_denied"}
    )
    landing = parse_qs(urlsplit(back.headers["location"]).query)
    assert back.status_code == 302 and landing == {"error": ["access_denied"], "state": ["s1"]}


async def test_same_subject_signs_in_to_the_same_account(api: httpx.AsyncClient) -> None:
    first = await sign_in(api, "same@example.test")
    second = await sign_in(api, "same@example.test")
    a = (await api.get("/v1/me", headers=first.headers)).json()["id"]
    b = (await api.get("/v1/me", headers=second.headers)).json()["id"]
    assert a == b and first.session_id != second.session_id


@pytest.mark.promise("A1")
async def test_no_password_anywhere_in_the_api(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/openapi.json")).text.lower()
    assert "password" not in schema and "passwd" not in schema


@pytest.mark.promise("A1")
async def test_no_password_column_in_the_database(context: AppContext) -> None:
    async with context.database.system_session() as s:
        columns = (
            await s.execute(
                text(
                    "SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = 'public'"
                )
            )
        ).all()
    assert columns, "the catalog query found nothing"
    found = [c for c in columns if re.search(r"pass(word|wd|phrase)|pwd", c[1], re.I)]
    assert found == []


@pytest.mark.promise("A6")
async def test_no_biometric_data_is_accepted_anywhere(api: httpx.AsyncClient) -> None:
    """The lock screen is the device's: no endpoint or field takes fingerprints or faces."""
    schema = (await api.get("/openapi.json")).text.lower()
    for word in ("biometric", "fingerprint", "faceid", "face_id", "touchid", "touch_id"):
        assert word not in schema, word
