"""Provider webhooks (P2): the signature over the raw body is checked before anything reads it;
a verified event is stored once (unique provider + event id), handled after the answer."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse

from offcoder.auth.dependencies import Context
from offcoder.context import AppContext
from offcoder.payments import tasks
from offcoder.payments.models import Provider
from offcoder.payments.providers import BadSignature
from offcoder.problems import Problem

router = APIRouter(tags=["webhooks"])


class InvalidSignature(Problem):
    def __init__(self) -> None:
        super().__init__(
            400, "invalid-signature", "The webhook signature is missing, wrong or too old."
        )


async def receive(
    provider: Provider, request: Request, ctx: AppContext, background: BackgroundTasks
) -> JSONResponse:
    """Verify a provider's event, store it once, and handle it after the answer."""
    handler = ctx.payments.get(provider.value)
    if handler is None:
        raise Problem(404, "not-found", f"Payments through {provider.value} are not configured.")
    body = await request.body()
    try:
        event = handler.verify(body, {k.lower(): v for k, v in request.headers.items()})
    except BadSignature as exc:
        raise InvalidSignature() from exc
    async with ctx.database.system_session() as session:
        stored = await tasks.store(session, provider, event)
    # After the answer, in this process; a worker's sweep picks up whatever this misses.
    background.add_task(tasks.handle_pending, ctx.database, 20)
    return JSONResponse({"received": True, "duplicate": not stored})


@router.post("/v1/webhooks/stripe")
async def stripe_webhook(
    request: Request, ctx: Context, background: BackgroundTasks
) -> JSONResponse:
    """Stripe events, verified by `Stripe-Signature` (timestamp within 300 s)."""
    return await receive(Provider.stripe, request, ctx, background)


@router.post("/v1/webhooks/razorpay")
async def razorpay_webhook(
    request: Request, ctx: Context, background: BackgroundTasks
) -> JSONResponse:
    """Razorpay events, verified by `X-Razorpay-Signature` (HMAC-SHA256 of the body)."""
    return await receive(Provider.razorpay, request, ctx, background)
