"""Fixtures of the sign-in tests: the five named providers on local stand-ins, and alice and bob
signed in through the whole broker (elsewhere they are minted straight into the database)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from offcoder.config import Settings
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.main import build_context, create_app
from tests.support.apps import app_with
from tests.support.oauth_standins import (
    OIDC_NAMED,
    StandIn,
    bitbucket_account,
    github_account,
    running,
)
from tests.support.signin import SignedIn, sign_in

HTTPS_SERVER = "https://testserver"


@pytest.fixture
async def alice(api: httpx.AsyncClient) -> SignedIn:
    return await sign_in(api)


@pytest.fixture
async def bob(api: httpx.AsyncClient) -> SignedIn:
    return await sign_in(api)


@pytest.fixture(scope="module")
def github() -> Iterator[StandIn]:
    stand_in = StandIn("github")
    stand_in.accounts = {
        "octo": github_account(583231, "octocat", "octo@example.test", verified=True),
        "shy": github_account(990001, "shy", "shy@example.test", verified=False),
    }
    with running(stand_in):
        yield stand_in


@pytest.fixture(scope="module")
def bitbucket() -> Iterator[StandIn]:
    stand_in = StandIn("bitbucket")
    stand_in.accounts = {
        "bucky": bitbucket_account(str(uuid.uuid4()), "bucky", "bucky@example.test", True),
    }
    with running(stand_in):
        yield stand_in


def five_providers(oidc_issuer: str, github: StandIn, bitbucket: StandIn) -> dict[str, Any]:
    """The settings that turn on all five named providers against the local stand-ins."""
    named: dict[str, Any] = {}
    for name in OIDC_NAMED:
        named |= {
            f"{name}_client_id": "offcoder-test",
            f"{name}_client_secret": SecretStr("test-client-secret"),
            f"{name}_issuer": oidc_issuer,
        }
    return named | github.settings | bitbucket.settings


@pytest.fixture
async def five(
    settings: Settings,
    prepared: PreparedDatabase,
    oidc_issuer: str,
    github: StandIn,
    bitbucket: StandIn,
) -> AsyncIterator[httpx.AsyncClient]:
    async with app_with(settings, prepared, **five_providers(oidc_issuer, github, bitbucket)) as (
        api,
        _,
    ):
        yield api


@pytest.fixture
async def browsers(
    settings: Settings,
    prepared: PreparedDatabase,
    oidc_issuer: str,
    github: StandIn,
    bitbucket: StandIn,
) -> AsyncIterator[Callable[[], httpx.AsyncClient]]:
    """Browsers (each with a cookie jar of its own) on the same server at an https address, as
    the web console is served: its cookies are then `Secure` and named `__Host-`."""
    overrides = five_providers(oidc_issuer, github, bitbucket) | {"public_url": HTTPS_SERVER}
    ctx = build_context(settings.model_copy(update=overrides), prepared)
    transport = httpx.ASGITransport(app=create_app(ctx))
    opened: list[httpx.AsyncClient] = []

    def browser() -> httpx.AsyncClient:
        opened.append(httpx.AsyncClient(transport=transport, base_url=HTTPS_SERVER))
        return opened[-1]

    try:
        yield browser
    finally:
        for client in opened:
            await client.aclose()
        await ctx.close()
