"""The AI gateway's test server: local servers speaking the OpenAI and Anthropic APIs (driven
through the official SDKs), and a user with keys for both."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from tests.support import ai_standins as ais
from tests.support.apps import app_with
from tests.support.signin import SignedIn, signed_in_user

OPENAI_KEY = "sk-test-offcoder"
ANTHROPIC_KEY = "sk-ant-test-offcoder"


@pytest.fixture(scope="module")
def openai_standin() -> Iterator[ais.OpenAIStandIn]:
    with ais.running_openai(OPENAI_KEY) as standin:
        yield standin


@pytest.fixture(scope="module")
def anthropic_standin() -> Iterator[ais.AnthropicStandIn]:
    with ais.running_anthropic(ANTHROPIC_KEY) as standin:
        yield standin


@dataclass
class Gateway:
    api: httpx.AsyncClient
    context: AppContext
    openai: ais.OpenAIStandIn
    anthropic: ais.AnthropicStandIn

    async def user(self, *, openai_key: str = OPENAI_KEY) -> SignedIn:
        user = await signed_in_user(self.context)
        for provider, key in (("openai", openai_key), ("anthropic", ANTHROPIC_KEY)):
            stored = await self.api.put(
                f"/v1/ai/keys/{provider}", headers=user.headers, json={"api_key": key}
            )
            assert stored.status_code == 200, stored.text
        return user

    async def chat(
        self, user: SignedIn, text: str, *, provider: str = "openai", **extra: Any
    ) -> httpx.Response:
        return await self.api.post(
            "/v1/ai/chat",
            headers=user.headers,
            json={
                "provider": provider,
                "model": "gpt-test" if provider == "openai" else "claude-test",
                "messages": [{"role": "user", "content": text}],
                **extra,
            },
        )


@pytest.fixture(scope="module")
async def gateway(
    settings: Settings,
    prepared: PreparedDatabase,
    openai_standin: ais.OpenAIStandIn,
    anthropic_standin: ais.AnthropicStandIn,
) -> AsyncIterator[Gateway]:
    urls = {"openai": f"{openai_standin.url}/v1", "anthropic": anthropic_standin.url}
    async with app_with(settings, prepared, ai_base_urls=urls, ai_timeout_s=1.0) as (api, ctx):
        yield Gateway(api, ctx, openai_standin, anthropic_standin)
