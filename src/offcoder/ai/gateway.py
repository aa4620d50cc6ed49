"""The AI gateway (S1, S3): a chat with the user's own provider key, classified on the way in
and on the way out.

The key is read sealed from the database and opened in memory for the call only (S3); it is
registered with the log redactor before the SDK sees it, and no error built here carries
provider text unfiltered. Providers go through their official SDKs: Anthropic's, and OpenAI's
for OpenAI and the providers that speak its API. A prompt the classifier blocks is never sent;
an output it blocks is never shown (a stream is cut with a final `blocked` event). Blocks are
recorded with a hash of the text (and never the text of a CSAM block).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import timedelta
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import anthropic
import httpx2
import openai
import structlog
from openai.types.chat import ChatCompletion
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.ai import repository
from offcoder.ai.models import SafetyEvent
from offcoder.ai.safety import Category, Verdict
from offcoder.auth.tokens import AccessClaims
from offcoder.config import Settings
from offcoder.crypto import bindings
from offcoder.crypto.keyring import Keyring, KeyringError
from offcoder.db.base import utcnow
from offcoder.logs import hold_sensitive, release_sensitive
from offcoder.problems import InvalidInput, NotFound, Problem, Unauthorized

log = structlog.get_logger(__name__)

OPENAI_COMPATIBLE = {
    "openai": "https://api.openai.com/v1",
    "groq": "https://api.groq.com/openai/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "xai": "https://api.x.ai/v1",
    "mistral": "https://api.mistral.ai/v1",
    "google": "https://generativelanguage.googleapis.com/v1beta/openai",
}
ANTHROPIC = "https://api.anthropic.com"


# What `auth.dependencies.live_user_session` answers for an ended device session.
SESSION_ENDED = "The session of this access token has ended."


class ContentBlocked(Problem):
    def __init__(self, category: Category, stage: str) -> None:
        outcome = (
            "it was not sent to the provider, and nothing was charged"
            if stage == "prompt"
            else "it was withheld; OffCoder charged nothing (your provider may still bill the "
            "tokens it generated)"
        )
        where = "request" if stage == "prompt" else "reply"
        super().__init__(
            422,
            "content-blocked",
            f"The {where} falls under the Acceptable Use Policy ({category.value}); {outcome}.",
            category=category.value,
            stage=stage,
        )


class ProviderProblem(Problem):
    pass


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class Chat:
    provider: str
    model: str
    messages: list[Message]
    max_tokens: int


@dataclass(frozen=True)
class Reply:
    output_id: uuid.UUID
    content: str
    input_tokens: int | None
    output_tokens: int | None


def base_url(settings: Settings, provider: str) -> str:
    if provider in settings.ai_base_urls:
        return settings.ai_base_urls[provider]
    if provider == "anthropic":
        return ANTHROPIC
    if provider in OPENAI_COMPATIBLE:
        return OPENAI_COMPATIBLE[provider]
    raise NotFound("AI provider")


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


async def record_block(
    session: AsyncSession,
    user_id: uuid.UUID,
    provider: str,
    stage: str,
    verdict: Verdict,
    text: str,
) -> None:
    assert verdict.category is not None
    await session.execute(
        insert(SafetyEvent).values(
            id=uuid.uuid4(),
            user_id=user_id,
            stage=stage,
            category=verdict.category.value,
            rule=verdict.rule,
            text_sha256=text_hash(text),
            # Never the text of a CSAM block (a database constraint says so too).
            text=None if verdict.category is Category.csam else text[:20_000],
            provider=provider,
            created_at=utcnow(),
        )
    )


async def open_key(
    session: AsyncSession, keyring: Keyring, user_id: uuid.UUID, provider: str
) -> str:
    """The user's key for `provider`, opened (422 when none is stored or it does not open)."""
    sealed = await repository.get_sealed_key(session, user_id, provider)
    return unseal(keyring, user_id, provider, None if sealed is None else sealed.key_enc)


async def open_key_of_live_session(
    session: AsyncSession,
    keyring: Keyring,
    claims: AccessClaims,
    provider: str,
    *,
    touch_after: timedelta,
) -> str:
    """`open_key` for a chat: the device session checked live in the same statement (401 when
    it has ended, as `live_user_session` answers; its last use touched after `touch_after`)."""
    live, sealed = await repository.sealed_key_of_live_session(
        session, claims.user_id, claims.session_id, provider, touch_after=touch_after
    )
    if not live:
        raise Unauthorized(SESSION_ENDED)
    return unseal(keyring, claims.user_id, provider, sealed)


def unseal(keyring: Keyring, user_id: uuid.UUID, provider: str, sealed: bytes | None) -> str:
    """A sealed key opened for one call; a problem the user can act on when it cannot be."""
    if sealed is None:
        raise InvalidInput(
            f"No {provider} key is stored: add yours with PUT /v1/ai/keys/{provider}."
        )
    try:
        # Masked in logs by the Upstream that uses it, for as long as the call lives.
        return keyring.open_text(sealed, bindings.ai_key(provider, user_id))
    except KeyringError:
        # Not this user's key for this provider (moved in the database), or sealed under a key
        # no longer in the keyring: useless either way, and the user can fix it.
        log.warning("ai key does not open", provider=provider)
        raise Problem(
            422,
            "ai-key-unreadable",
            f"The stored {provider} key cannot be used: store it again with "
            f"PUT /v1/ai/keys/{provider}.",
        ) from None


async def store_output(
    session: AsyncSession, claims: AccessClaims, chat: Chat, content: str
) -> uuid.UUID:
    """Store a reply that passed the screen, while the device session is live (401 once it has
    ended: the reply is then neither stored nor shown)."""
    output_id = await repository.insert_output_of_live_session(
        session, claims.user_id, claims.session_id, chat.provider, chat.model, content
    )
    if output_id is None:
        raise Unauthorized(SESSION_ENDED)
    return output_id


# ------------------------------------------------------------------------------ providers


def provider_error(provider: str, exc: Exception) -> Problem:
    """A provider failure as a problem the client can act on; never the provider's own text,
    which could quote the request (or the key)."""
    if isinstance(exc, (openai.RateLimitError, anthropic.RateLimitError)):
        retry = exc.response.headers.get("retry-after", "")
        seconds = retry if retry.isdigit() else "30"
        return ProviderProblem(
            429,
            "ai-provider-rate-limited",
            f"{provider} is rate-limiting this key; retry after {seconds} s.",
            headers={"retry-after": seconds},
            provider=provider,
            # As `TooManyRequests` does: in a stream the problem is an `error` event, and an
            # event has no headers, so the wait must be in the body too.
            retry_after=int(seconds),
        )
    for kinds, status, slug, detail in PROVIDER_FAILURES:
        if isinstance(exc, kinds):
            return ProviderProblem(status, slug, detail.format(provider), provider=provider)
    return ProviderProblem(
        502,
        "ai-provider-unavailable",
        f"{provider} failed or answered something unreadable; OffCoder charged nothing.",
        provider=provider,
    )


class UpstreamBroken(Exception):
    """The provider answered something the SDK could not read (not JSON, an HTML page, a
    stream cut short or ended without its closing event): a provider failure, not ours."""


class UpstreamTimeout(Exception):
    """The call as a whole outlived `ai_deadline_s` (a provider that drips bytes or sends only
    keep-alive pings never trips the SDK's per-read timeout)."""


SDK_ERRORS = (openai.OpenAIError, anthropic.AnthropicError)
PROVIDER_ERRORS = (*SDK_ERRORS, UpstreamBroken, UpstreamTimeout)
# Provider failures with an answer of their own ({} is the provider); the rest are 502s.
PROVIDER_FAILURES: tuple[tuple[tuple[type[Exception], ...], int, str, str], ...] = (
    (
        (openai.AuthenticationError, anthropic.AuthenticationError),
        401,
        "ai-key-rejected",
        "{0} refused the stored API key: replace it with PUT /v1/ai/keys/{0}.",
    ),
    (
        (openai.PermissionDeniedError, anthropic.PermissionDeniedError),
        403,
        "ai-provider-forbidden",
        "{0} does not allow this key to do that.",
    ),
    (
        (openai.APITimeoutError, anthropic.APITimeoutError, UpstreamTimeout),
        504,
        "ai-provider-timeout",
        "{0} did not answer in time.",
    ),
    (
        (openai.NotFoundError, anthropic.NotFoundError),
        422,
        "ai-model-not-found",
        "{0} does not know this model.",
    ),
    (
        (openai.BadRequestError, anthropic.BadRequestError),
        422,
        "ai-provider-refused",
        "{0} refused the request as invalid.",
    ),
)


def cookieless(sdk: Any) -> httpx2.AsyncClient:
    """The SDK's HTTP client with a cookie jar that keeps nothing: the pool is shared by every
    user's calls, and a cookie a provider sets on one user's answer must not ride along on
    another user's call."""
    client: httpx2.AsyncClient = sdk.DefaultAsyncHttpxClient()
    client.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return client


class Clients:
    """One SDK client, and so one connection pool, per provider in a process: creating a client
    builds a TLS context and a pool, which cost more than the rest of a call's own work. Each
    call gets a copy carrying the user's key (`with_options`): the copy shares the pool (which
    keeps no cookies), never the key, and is dropped after the call."""

    # The pooled clients are never used as they are; this only satisfies the SDKs' constructors.
    NO_KEY = "no-key-on-the-shared-client"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.shared: dict[str, Any] = {}

    def for_call(self, provider: str, key: str) -> Any:
        client = self.shared.get(provider)
        if client is None:
            sdk: Any = anthropic if provider == "anthropic" else openai
            kind = sdk.AsyncAnthropic if provider == "anthropic" else sdk.AsyncOpenAI
            client = kind(
                api_key=self.NO_KEY,
                base_url=base_url(self.settings, provider),
                timeout=self.settings.ai_timeout_s,
                max_retries=0,
                http_client=cookieless(sdk),
            )
            self.shared[provider] = client
        return client.with_options(api_key=key)

    async def close(self) -> None:
        for client in self.shared.values():
            await client.close()
        self.shared.clear()


class Upstream:
    """One provider call with an opened key: whole, or streamed as text pieces. The key is
    masked in logs while the call lives and let go when it ends (`close`)."""

    def __init__(self, clients: Clients, chat: Chat, key: str, deadline_s: float) -> None:
        self.chat = chat
        self.anthropic = chat.provider == "anthropic"
        self.client: Any = clients.for_call(chat.provider, key)
        hold_sensitive(key)
        self._key: str | None = key
        self.deadline = time.monotonic() + deadline_s
        self._pieces: AsyncGenerator[str, None] | None = None

    def _anthropic_args(self) -> dict[str, Any]:
        system = "\n".join(m.content for m in self.chat.messages if m.role == "system")
        args: dict[str, Any] = {
            "model": self.chat.model,
            "max_tokens": self.chat.max_tokens,
            "messages": [
                {"role": m.role, "content": m.content}
                for m in self.chat.messages
                if m.role != "system"
            ],
        }
        if system:
            args["system"] = system
        return args

    def _openai_args(self) -> dict[str, Any]:
        return {
            "model": self.chat.model,
            "max_tokens": self.chat.max_tokens,
            "messages": [{"role": m.role, "content": m.content} for m in self.chat.messages],
        }

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise UpstreamTimeout()
        return left

    async def complete(self) -> tuple[str, int | None, int | None]:
        left = self._left()
        try:
            async with asyncio.timeout(left):
                return await self._complete()
        except SDK_ERRORS:
            raise
        except (TimeoutError, httpx2.TimeoutException):
            raise UpstreamTimeout() from None
        except Exception as exc:  # what an SDK lets through from a garbled answer
            raise UpstreamBroken(type(exc).__name__) from exc

    async def _complete(self) -> tuple[str, int | None, int | None]:
        if self.anthropic:
            message = await self.client.messages.create(**self._anthropic_args())
            text = "".join(
                text_of(getattr(b, "text", "")) for b in message.content if b.type == "text"
            )
            usage = message.usage
            return text, count_of(usage.input_tokens), count_of(usage.output_tokens)
        completion = await self.client.chat.completions.create(**self._openai_args())
        if not isinstance(completion, ChatCompletion) or not completion.choices:
            raise UpstreamBroken("not a chat completion")
        usage = completion.usage
        return (
            text_of(completion.choices[0].message.content or ""),
            count_of(usage.prompt_tokens) if usage else None,
            count_of(usage.completion_tokens) if usage else None,
        )

    async def next_piece(self) -> str | None:
        """The next piece of the streamed reply, None at its proper end. Raises a provider
        error (the SDK's, UpstreamBroken, UpstreamTimeout) otherwise."""
        if self._pieces is None:
            self._pieces = self._stream()
        left = self._left()
        try:
            async with asyncio.timeout(left):
                return await anext(self._pieces, None)
        except (*SDK_ERRORS, UpstreamBroken):
            raise
        except (TimeoutError, httpx2.TimeoutException):
            # the deadline, or a per-read timeout the SDK let through mid-stream (Anthropic's)
            raise UpstreamTimeout() from None
        except Exception as exc:  # a stream cut short surfaces as the HTTP library's error
            raise UpstreamBroken(type(exc).__name__) from exc

    async def _stream(self) -> AsyncGenerator[str, None]:
        finished = False
        if self.anthropic:
            async with self.client.messages.stream(**self._anthropic_args()) as stream:
                async for event in stream:
                    if event.type == "content_block_delta" and event.delta.type == "text_delta":
                        if event.delta.text:
                            yield text_of(event.delta.text)
                    elif event.type == "message_stop":
                        finished = True
        else:
            stream = await self.client.chat.completions.create(**self._openai_args(), stream=True)
            try:
                async for chunk in stream:
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    if choice.delta is not None and choice.delta.content:
                        yield text_of(choice.delta.content)
                    if choice.finish_reason:
                        finished = True
            finally:
                await stream.close()  # the client went away: the upstream call ends with it
        if not finished:
            # An answer that is not a stream at all, or one that stopped without its closing
            # event, is not a whole reply: it must not be stored and shown as one.
            raise UpstreamBroken("the stream ended without its closing event")

    async def close(self) -> None:
        """Ends the stream if one is open; the call's client copy and the key go with the call,
        the pool the copy shares stays open."""
        try:
            if self._pieces is not None:
                pieces, self._pieces = self._pieces, None
                await pieces.aclose()
        finally:
            self.client = None
            if self._key is not None:
                release_sensitive(self._key)
                self._key = None


def text_of(value: object) -> str:
    if not isinstance(value, str):
        raise UpstreamBroken("reply text is not a string")
    return value


def count_of(value: object) -> int | None:
    """A token count as the provider reported it; None when it reported none usable."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
