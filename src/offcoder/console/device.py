"""The device sign-in page (RFC 8628's verification page, decision 0032): a signed-in person
enters the code a terminal shows, sees what asks (the device's name, the requesting address's
prefix, when it asked) and approves or denies it.

Each code looked up or decided is counted per person and, apart, per client address before
anything is read (`LimitKind.device_verify`): a user code is short, so guessing one must stay
far slower than its ten minutes of life allow. A wrong code, an expired one and one already
decided get the same sentence.

A visitor who is not signed in is sent to sign in first and brought back here with the code
(`remember_after_sign_in`, read by the console's sign-in callback).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse

from offcoder.auth import device
from offcoder.auth import service as auth_service
from offcoder.auth.dependencies import Context, live_user_session
from offcoder.console import session as cookies
from offcoder.console.auth import ConsoleUser, FormUser
from offcoder.console.rendering import page
from offcoder.console.session import Browser
from offcoder.context import AppContext
from offcoder.kit.transactions import system_transaction
from offcoder.problems import Unauthorized
from offcoder.ratelimits.service import LimitKind, client_address

router = APIRouter(prefix="/console", include_in_schema=False)

NOT_FOUND = (
    "That code is not waiting for approval. Check it against your terminal; "
    "a code works for 10 minutes and only once."
)
# Where a visitor who had to sign in first comes back to: this page, with at most a code.
RESUMABLE = re.compile(r"/console/device(\?user_code=[A-Za-z0-9-]{1,16})?")


def remember_after_sign_in(request: Request, response: Response, ctx: AppContext) -> None:
    """Keep this page's address (and the code in it) through sign-in, in a short-lived cookie
    the sign-in callback follows once."""
    if request.method != "GET" or request.url.path != device.VERIFICATION_PATH:
        return
    typed = request.query_params.get("user_code", "")
    code = device.normalized(typed)
    target = device.VERIFICATION_PATH
    if code is not None:
        target += "?" + urlencode({"user_code": device.shown(code)})
    cookies.set_cookie(response, ctx, cookies.NEXT_COOKIE, target, 600)


def page_after_sign_in(request: Request, ctx: AppContext) -> str | None:
    """The page to open after signing in, if this browser was sent to sign in from one."""
    target = cookies.read_cookie(request, ctx, cookies.NEXT_COOKIE) or ""
    return target if RESUMABLE.fullmatch(target) else None


async def count_attempt(request: Request, ctx: AppContext, browser: Browser) -> None:
    host = request.client.host if request.client else None
    await ctx.rate_limits.hit(LimitKind.device_verify, f"user:{browser.claims.user_id}")
    await ctx.rate_limits.hit(LimitKind.device_verify, f"address:{client_address(host)}")


def asked_at(moment: datetime) -> dict[str, str]:
    utc = moment.astimezone(UTC)
    minutes = max(0, int((datetime.now(UTC) - utc).total_seconds() // 60))
    ago = "just now" if minutes == 0 else f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    return {"iso": utc.isoformat(timespec="seconds"), "text": f"{utc:%H:%M} UTC ({ago})"}


def device_page(
    request: Request,
    ctx: AppContext,
    browser: Browser,
    stage: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> Response:
    values: dict[str, Any] = {"stage": stage, "user_code": "", "error": None} | context
    return page(request, ctx, "device.html", values, browser, status_code=status_code)


@router.get("/device", response_class=HTMLResponse)
async def device_view(
    request: Request,
    ctx: Context,
    browser: ConsoleUser,
    user_code: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """The code form; with a code (typed, or from the terminal's complete address), what asks."""
    if not user_code.strip():
        return device_page(request, ctx, browser, "enter")
    await count_attempt(request, ctx, browser)
    async with system_transaction(ctx) as session:
        pending = await device.pending_request(session, user_code)
        found = pending is not None and (
            pending.device_name,
            pending.ip_prefix,
            asked_at(pending.created_at),
        )
    if not found:
        return device_page(
            request, ctx, browser, "enter", status_code=400, user_code=user_code, error=NOT_FOUND
        )
    code = device.normalized(user_code)
    assert code is not None  # it found a request
    device_name, ip_prefix, asked = found
    return device_page(
        request,
        ctx,
        browser,
        "confirm",
        code=device.shown(code),
        device_name=device_name,
        ip_prefix=ip_prefix,
        asked=asked,
    )


@router.post("/device")
async def device_decide(
    request: Request,
    ctx: Context,
    browser: FormUser,
    user_code: Annotated[str, Form(max_length=32)] = "",
    decision: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Approve (the device signs in as you) or deny the request of a code."""
    if decision not in ("approve", "deny"):
        return device_page(
            request,
            ctx,
            browser,
            "enter",
            status_code=400,
            user_code=user_code,
            error="Choose Approve or Deny.",
        )
    await count_attempt(request, ctx, browser)
    # The approving session must be live; the new one inherits its provider.
    async with live_user_session(ctx, browser.claims) as session:
        mine = await auth_service.live_session(session, browser.claims.session_id)
        if mine is None:  # ended between the check and the read: sign in again
            raise Unauthorized("The session of this browser has ended.")
        provider = mine.provider
    async with system_transaction(ctx) as session:
        decided = await device.decide(
            session,
            user_code,
            user_id=browser.claims.user_id,
            provider=provider,
            approve=decision == "approve",
        )
        device_name = decided.device_name if decided is not None else ""
    if decided is None:
        return device_page(
            request, ctx, browser, "enter", status_code=400, user_code=user_code, error=NOT_FOUND
        )
    return device_page(
        request, ctx, browser, "approved" if decision == "approve" else "denied",
        device_name=device_name,
    )  # fmt: skip
