"""Fixtures of the sign-in tests: the five named providers on local stand-ins."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from offcoder.config import Settings
from offcoder.db.bootstrap import PreparedDatabase
from tests.support.apps import app_with
from tests.support.oauth_standins import (
    OIDC_NAMED,
    StandIn,
    bitbucket_account,
    github_account,
    running,
)


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


@pytest.fixture
async def five(
    settings: Settings,
    prepared: PreparedDatabase,
    oidc_issuer: str,
    github: StandIn,
    bitbucket: StandIn,
) -> AsyncIterator[httpx.AsyncClient]:
    named: dict[str, Any] = {}
    for name in OIDC_NAMED:
        named |= {
            f"{name}_client_id": "offcoder-test",
            f"{name}_client_secret": SecretStr("test-client-secret"),
            f"{name}_issuer": oidc_issuer,
        }
    async with app_with(settings, prepared, **named, **github.settings, **bitbucket.settings) as (
        api,
        _,
    ):
        yield api
