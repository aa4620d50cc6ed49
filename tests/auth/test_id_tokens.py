"""ID tokens are checked before anyone is signed in (A1): a spoiled token from an OpenID Connect
provider (signature, expiry, audience, issuer, `alg: none`, HS256 keyed with the public key,
nonce) signs nobody in and creates nobody."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from offcoder.auth.models import OAuthIdentity
from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from tests.support.apps import app_with
from tests.support.oidc_standin import MODES, OIDCStandIn, running
from tests.support.signin import REDIRECT_URI, pkce_pair

pytestmark = pytest.mark.promise("A1")


@pytest.fixture(scope="module")
def provider() -> Iterator[OIDCStandIn]:
    with running(OIDCStandIn()) as stand_in:
        yield stand_in


@pytest.fixture
async def google(
    settings: Settings, prepared: PreparedDatabase, provider: OIDCStandIn
) -> AsyncIterator[tuple[httpx.AsyncClient, AppContext]]:
    async with app_with(
        settings,
        prepared,
        google_client_id=provider.client_id,
        google_client_secret=SecretStr("standin-secret"),
        google_issuer=provider.base_url,
    ) as pair:
        yield pair


@pytest.mark.parametrize("mode", MODES)
async def test_only_a_sound_id_token_signs_in(
    google: tuple[httpx.AsyncClient, AppContext], provider: OIDCStandIn, mode: str
) -> None:
    api, ctx = google
    provider.mode = mode
    subject = f"{mode}-{secrets.token_hex(4)}"
    _, challenge = pkce_pair()
    start = await api.get(
        "/v1/auth/google/authorize",
        params={
            "redirect_uri": REDIRECT_URI,
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    assert start.status_code == 302, start.text
    async with httpx.AsyncClient() as browser:
        at_provider = await browser.get(start.headers["location"] + "&as=" + subject)
    back = urlsplit(at_provider.headers["location"])
    landing = await api.get(f"{back.path}?{back.query}")
    assert landing.status_code == 302
    query = parse_qs(urlsplit(landing.headers["location"]).query)
    async with ctx.database.system_session() as s:
        created = await s.scalar(
            select(OAuthIdentity).where(
                OAuthIdentity.provider == "google", OAuthIdentity.subject == subject
            )
        )
    if mode == "good":
        assert "code" in query and created is not None
    else:
        assert query.get("error") == ["server_error"] and "code" not in query, mode
        assert created is None, f"{mode}: an account was created"
