"""The OpenAI and Anthropic stand-ins speak well enough for the official async SDKs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from anthropic.types import MessageParam
from openai.types.chat import ChatCompletionMessageParam

from tests.support.ai_standins import (
    AnthropicStandIn,
    OpenAIStandIn,
    running_anthropic,
    running_openai,
)

USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello."}]
ANT_USER: list[MessageParam] = [{"role": "user", "content": "Say hello."}]


@pytest.fixture
def oai() -> Iterator[tuple[OpenAIStandIn, openai.AsyncOpenAI]]:
    with running_openai() as standin:  # the SDK appends /chat/completions to base_url
        url = f"{standin.url}/v1"
        yield standin, openai.AsyncOpenAI(api_key=standin.api_key, base_url=url, max_retries=0)


@pytest.fixture
def ant() -> Iterator[tuple[AnthropicStandIn, anthropic.AsyncAnthropic]]:
    with running_anthropic() as standin:  # the SDK appends /v1/messages to base_url
        url = standin.url
        yield (
            standin,
            anthropic.AsyncAnthropic(api_key=standin.api_key, base_url=url, max_retries=0),
        )


async def call(client: openai.AsyncOpenAI | anthropic.AsyncAnthropic, **options: Any) -> Any:
    """One non-streaming request with whichever SDK `client` belongs to."""
    if isinstance(client, openai.AsyncOpenAI):
        return await client.chat.completions.create(model="gpt-x", messages=USER, **options)
    return await client.messages.create(
        model="claude-x", max_tokens=64, messages=ANT_USER, **options
    )


async def test_openai_completion_and_stream(oai: tuple[OpenAIStandIn, openai.AsyncOpenAI]) -> None:
    standin, client = oai
    done = await client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert done.model == "gpt-4o-mini"
    assert done.choices[0].message.content == "Hello from the stand-in."
    assert done.choices[0].finish_reason == "stop"
    assert done.usage is not None and done.usage.total_tokens > 0
    assert standin.requests[0].headers["authorization"] == f"Bearer {standin.api_key}"
    assert standin.requests[0].body["messages"] == USER
    standin.chunks = ["Hel", "lo", "!"]
    stream = await client.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True)
    chunks = [chunk async for chunk in stream]
    assert [c.choices[0].delta.content for c in chunks] == ["", "Hel", "lo", "!", None]
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_anthropic_message_and_stream(
    ant: tuple[AnthropicStandIn, anthropic.AsyncAnthropic],
) -> None:
    standin, client = ant
    done = await client.messages.create(model="claude-x", max_tokens=64, messages=ANT_USER)
    assert (done.type, done.role, done.stop_reason) == ("message", "assistant", "end_turn")
    assert done.content[0].type == "text" and done.content[0].text == "Hello from the stand-in."
    assert done.id.startswith("msg_") and done.usage.output_tokens > 0
    # anthropic 2.x sends the api_key as a Bearer token (older SDKs used x-api-key)
    assert standin.requests[0].headers["authorization"] == f"Bearer {standin.api_key}"
    assert standin.requests[0].headers["anthropic-version"]

    standin.reply = "Streamed, piece by piece."
    raw = await client.messages.create(
        model="claude-x", max_tokens=64, messages=ANT_USER, stream=True
    )
    types = [event.type async for event in raw]
    assert types[:2] == ["message_start", "content_block_start"]
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    async with client.messages.stream(model="claude-x", max_tokens=64, messages=ANT_USER) as stream:
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert pieces[:2] == ["Stre", "amed"] and "".join(pieces) == standin.reply
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


@pytest.mark.parametrize("kind", ["oai", "ant"])
async def test_faults_map_to_sdk_errors(kind: str, request: pytest.FixtureRequest) -> None:
    standin, client = request.getfixturevalue(kind)
    sdk: Any = openai if kind == "oai" else anthropic

    wrong = client.with_options(api_key="sk-wrong-0000")
    with pytest.raises(sdk.AuthenticationError) as denied:
        await call(wrong)
    assert denied.value.status_code == 401

    standin.fail_next(429, retry_after=7)
    with pytest.raises(sdk.RateLimitError) as limited:
        await call(client)
    assert limited.value.response.headers["retry-after"] == "7"

    standin.hang_next(10)
    with pytest.raises(sdk.APITimeoutError):
        await call(client, timeout=0.2)
    for _ in range(50):  # the stand-in notices the client gave up
        if standin.disconnects:
            break
        await asyncio.sleep(0.02)
    assert standin.disconnects == 1

    # Garbage labelled JSON: the SDKs let json's own error through (not an SDK APIError).
    standin.garbage_next()
    with pytest.raises(json.JSONDecodeError):
        await call(client)
    # Garbage as text/html: an APIResponseValidationError only with strict validation;
    # without it create() returns the page as a str.
    standin.garbage_next("text/html")
    assert isinstance(await call(client), str)
    options = {"base_url": client.base_url, "max_retries": 0, "_strict_response_validation": True}
    strict = type(client)(api_key=standin.api_key, **options)
    standin.garbage_next("text/html")
    with pytest.raises(sdk.APIResponseValidationError):
        await call(strict)
    assert await call(client)  # and the stand-in is back to normal


async def test_cut_stream_is_an_error(oai: tuple[OpenAIStandIn, openai.AsyncOpenAI]) -> None:
    standin, client = oai
    standin.stream_cut_after(2)
    stream = await client.chat.completions.create(model="gpt-x", messages=USER, stream=True)
    seen: list[str | None] = []

    async def drain() -> None:
        async for chunk in stream:
            seen.append(chunk.choices[0].delta.content)

    with pytest.raises(openai.APIConnectionError):  # anthropic: httpx2.RemoteProtocolError
        await drain()
    assert seen == ["", "Hell", "o fr"]  # the role chunk, then two pieces
