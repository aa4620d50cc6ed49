"""AI provider keys (BYOK) and the chat gateway (S1, S3). Thin: the logic is in `service` and
`gateway`."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import structlog
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from offcoder.ai import gateway, review, service
from offcoder.ai.safety import Verdict
from offcoder.ai.schemas import (
    AIKeyIn,
    AIKeyList,
    AIKeyOut,
    ChatReplyOut,
    ChatRequest,
    ChatUsage,
    FlagCreated,
    FlagIn,
)
from offcoder.ai.screen import StreamScreen
from offcoder.auth.dependencies import (
    LAST_USED_RESOLUTION,
    Claims,
    Context,
    CurrentUser,
    UserSession,
    live_user_session,
)
from offcoder.auth.tokens import AccessClaims
from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.problems import InvalidInput, PayloadTooLarge, Problem

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/v1/ai", tags=["ai"])


@router.get("/keys")
async def list_keys(principal: CurrentUser, session: UserSession) -> AIKeyList:
    """Provider and last four characters of each stored key; never the key (R3)."""
    return AIKeyList(items=await service.list_keys(session, principal.user_id))


@router.put("/keys/{provider}")
async def put_key(
    provider: str, body: AIKeyIn, principal: CurrentUser, session: UserSession, ctx: Context
) -> AIKeyOut:
    """Store or replace the key for a provider of the allow-list (any other: 404)."""
    return await service.put_key(session, ctx.keyring, principal.user_id, provider, body.api_key)


@router.delete("/keys/{provider}", status_code=204)
async def delete_key(provider: str, principal: CurrentUser, session: UserSession) -> Response:
    await service.delete_key(session, principal.user_id, provider)
    return Response(status_code=204)


@router.post("/chat", response_model=None)
async def chat(body: ChatRequest, claims: Claims, ctx: Context) -> Response:
    """Chat with your chosen provider using your own stored key (S3). The request is classified
    before it is sent and the reply before it is shown (S1); a block answers 422
    `.../content-blocked` with the category. With `"stream": true` the reply comes as
    Server-Sent Events: `delta` {text} ..., then `done` {output_id} or `blocked` {category} or
    `error` {problem}."""
    settings = ctx.settings
    request = validated(body, settings)
    most = settings.ai_max_open_chats
    ctx.ai_chats.take(
        claims.user_id, most, f"At most {most} AI chats at once; wait for one to finish."
    )
    handed_over = False
    try:
        if ctx.exemplars.due():
            async with live_user_session(ctx, claims) as session:
                await ctx.exemplars.refresh(session, ctx.safety.offline)
        verdict, text = await ctx.safety.prompt([m.content for m in request.messages])
        if verdict.category is not None:
            async with live_user_session(ctx, claims) as session:
                await gateway.record_block(
                    session, claims.user_id, request.provider, "prompt", verdict, text
                )
            raise gateway.ContentBlocked(verdict.category, "prompt")
        # One statement checks the device session and reads the key (ai/repository.py).
        async with ctx.database.user_session(claims.user_id) as session:
            key = await gateway.open_key_of_live_session(
                session, ctx.keyring, claims, request.provider, touch_after=LAST_USED_RESOLUTION
            )
        upstream = gateway.Upstream(ctx.ai_clients, request, key, settings.ai_deadline_s)
        del key
        if body.stream:
            handed_over = True  # the stream gives the slot back when it ends
            return await streamed(ctx, claims, request, upstream)
        return await whole(ctx, claims, request, upstream)
    finally:
        if not handed_over:
            ctx.ai_chats.give_back(claims.user_id)


async def whole(
    ctx: AppContext, claims: AccessClaims, request: gateway.Chat, upstream: gateway.Upstream
) -> Response:
    """The reply in one answer, screened before it is stored and shown."""
    try:
        content, input_tokens, output_tokens = await upstream.complete()
    except gateway.PROVIDER_ERRORS as exc:
        raise gateway.provider_error(request.provider, exc) from None
    finally:
        await upstream.close()
    verdict = await ctx.safety.classify(content, stage="output")
    if verdict.category is not None:
        async with live_user_session(ctx, claims) as session:
            await gateway.record_block(
                session, claims.user_id, request.provider, "output", verdict, content
            )
        raise gateway.ContentBlocked(verdict.category, "output")
    # One statement checks the device session and stores the output (ai/repository.py).
    async with ctx.database.user_session(claims.user_id) as session:
        output_id = await gateway.store_output(session, claims, request, content)
    reply = ChatReplyOut(
        output_id=output_id,
        provider=request.provider,
        model=request.model,
        message={"role": "assistant", "content": content},
        usage=ChatUsage(input_tokens=input_tokens, output_tokens=output_tokens),
    )
    return JSONResponse(reply.model_dump(mode="json"))


def validated(body: ChatRequest, settings: Settings) -> gateway.Chat:
    provider = body.provider
    if provider not in service.PROVIDERS:
        raise InvalidInput(
            f"Unknown AI provider {provider!r}; known: {', '.join(sorted(service.PROVIDERS))}."
        )
    if len(body.messages) > settings.ai_max_messages:
        raise InvalidInput(f"At most {settings.ai_max_messages} messages.")
    if sum(len(m.content) for m in body.messages) > settings.ai_max_prompt_chars:
        raise PayloadTooLarge(
            f"The conversation may hold at most {settings.ai_max_prompt_chars} characters."
        )
    if not any(m.role == "user" for m in body.messages):
        raise InvalidInput("The conversation needs at least one user message.")
    max_tokens = body.max_tokens or min(1024, settings.ai_max_tokens)
    if max_tokens > settings.ai_max_tokens:
        raise InvalidInput(f"max_tokens may be at most {settings.ai_max_tokens}.")
    return gateway.Chat(
        provider=provider,
        model=body.model,
        messages=[gateway.Message(m.role, m.content) for m in body.messages],
        max_tokens=max_tokens,
    )


CLEANUP_S = 10.0  # the most a stream's cleanup may take once the client has gone


class FinishingStream(StreamingResponse):
    """A stream whose cleanup runs however the response ends: a client that leaves before the
    first byte means the body generator never starts (so its `finally` never runs), and
    Starlette skips background tasks on a disconnect under newer ASGI servers."""

    def __init__(
        self,
        content: AsyncIterator[bytes],
        finish: Callable[[], Awaitable[None]],
        **options: Any,
    ) -> None:
        super().__init__(content, **options)
        self.finish = finish

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.finish()


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


async def streamed(
    ctx: AppContext, claims: AccessClaims, request: gateway.Chat, upstream: gateway.Upstream
) -> Response:
    """The first piece is awaited before answering, so a provider that fails at once gets a
    plain problem+json answer; after that, failures and blocks are events in the stream. The
    reply is screened as it arrives by a `StreamScreen` (see `ai/screen.py`): a block ends the
    stream with `blocked`, what was already shown stays shown, nothing after it is sent."""
    finished = False

    async def finish() -> None:
        """Close the upstream call and give the chat's slot back, once, whatever the close
        does: from the stream's end, or from the response when the stream never started."""
        nonlocal finished
        if not finished:
            finished = True
            try:
                with anyio.move_on_after(CLEANUP_S, shield=True):
                    await upstream.close()
            finally:
                ctx.ai_chats.give_back(claims.user_id)

    try:
        first = await upstream.next_piece()
    except gateway.PROVIDER_ERRORS as exc:
        await finish()
        raise gateway.provider_error(request.provider, exc) from None
    except BaseException:
        await finish()
        raise

    async def events() -> AsyncIterator[bytes]:
        screen = StreamScreen(ctx.safety, moderate_every=ctx.settings.ai_moderation_stream_chars)
        piece: str | None = first
        try:
            while True:
                screened = await (screen.end() if piece is None else screen.feed(piece))
                if screened.verdict.blocked:
                    yield await blocked(screened.verdict, screened.text)
                    return
                if screened.run:
                    yield sse("delta", {"text": screened.run})
                if piece is None:
                    break
                piece = await upstream.next_piece()
            async with ctx.database.user_session(claims.user_id) as session:
                output_id = await gateway.store_output(session, claims, request, screen.shown)
            yield sse("done", {"output_id": str(output_id)})
        except gateway.PROVIDER_ERRORS as exc:
            yield sse("error", gateway.provider_error(request.provider, exc).body())
        except Problem as problem:  # the safety check unavailable; the session revoked
            yield sse("error", problem.body())
        except Exception:
            log.exception("ai stream failed")
            failed = Problem(500, "internal-error", "The reply could not be finished; try again.")
            yield sse("error", failed.body())
        finally:
            # A client that goes away cancels this generator; the upstream call must still be
            # closed and the key let go: `finish` shields itself from that cancellation.
            await finish()

    async def blocked(verdict: Verdict, text: str) -> bytes:
        assert verdict.category is not None
        try:
            async with live_user_session(ctx, claims) as session:
                await gateway.record_block(
                    session, claims.user_id, request.provider, "output", verdict, text
                )
        except Exception:  # the block stands even when its record cannot be written
            log.exception("ai block not recorded", category=verdict.category.value)
        return sse("blocked", {"category": verdict.category.value})

    return FinishingStream(
        events(),
        finish,
        media_type="text/event-stream",
        headers={"cache-control": "no-store"},
    )


@router.post("/outputs/{output_id}/flag", status_code=201)
async def flag_output(
    output_id: uuid.UUID, body: FlagIn, principal: CurrentUser, session: UserSession
) -> FlagCreated:
    """Report an AI output you received (S2): it goes to the safety review queue."""
    flag = await review.flag_output(session, principal.user_id, output_id, body.reason)
    return FlagCreated(id=flag.id, output_id=flag.output_id, status=flag.status)
