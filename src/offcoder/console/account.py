"""The console's account page (issue 17, item 6): profile and handle, sign-in accounts, device
sessions, the second factor, data export, wallet and this month's usage, and erasing the
account. The page is rendered here from the same services as `/v1`; its buttons call `/v1`
from the browser (assets/src/account), except erasure, a form, so the cookies of the erased
account are cleared by the answer that erases it."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse

from offcoder.auth import identities
from offcoder.auth import service as auth_service
from offcoder.auth.dependencies import Context, live_user_session
from offcoder.auth.models import MfaTotp
from offcoder.console import session as cookies
from offcoder.console.auth import ConsoleUser, FormUser
from offcoder.console.rendering import go, money, page
from offcoder.console.session import Browser
from offcoder.context import AppContext
from offcoder.privacy import consent
from offcoder.users import service as users
from offcoder.users import usage
from offcoder.wallet import service as wallet

router = APIRouter(prefix="/console", include_in_schema=False)

POLICY_TITLES = {"terms": "Terms of service", "privacy": "Privacy policy"}


def confirmation_word(handle: str | None, email: str | None) -> str:
    """What a person types to erase their account: their handle, else their e-mail address
    (an account gets a handle only when its owner picks one)."""
    return handle or email or "delete my account"


async def account_page(
    request: Request,
    ctx: AppContext,
    browser: Browser,
    *,
    continue_to: dict[str, str] | None = None,
    notice: str | None = None,
    error: str | None = None,
    delete_error: str | None = None,
    policy_notice: str | None = None,
    status_code: int = 200,
) -> Response:
    user_id = browser.claims.user_id
    async with live_user_session(ctx, browser.claims) as session:
        user = await users.get(session, user_id)
        rows = await identities.list_identities(session, user_id)
        devices = await auth_service.list_sessions(session, user_id)
        factor = await session.get(MfaTotp, user_id)
        month = await usage.month_usage(session, user_id, usage.month_start())
        held = await wallet.view(session, ctx.settings, user_id)
        policies = await consent.current_versions(session)
        agreed = await consent.history(session, user_id)
    names = {p.name: p.display_name for p in ctx.providers.values()}
    prices = {c: p for c, p in ctx.settings.job_price_per_minute.items() if p > 0}
    context: dict[str, Any] = {
        "user": user,
        "identities": [
            {
                "id": r.id,
                "provider": r.provider,
                "display_name": names.get(r.provider, r.provider),
                "email": r.email,
            }
            for r in rows
        ],
        "providers": [{"name": n, "display_name": d} for n, d in names.items()],
        "continue_to": continue_to,
        "notice": notice,
        "error": error,
        "delete_error": delete_error,
        "policy_notice": policy_notice,
        "sessions": [
            {
                "id": d.id,
                "device_name": d.device_name,
                "provider": names.get(d.provider, d.provider),
                "created_at": d.created_at,
                "last_used_at": d.last_used_at,
                "ip_prefix": d.ip_prefix,
                "current": d.id == browser.claims.session_id,
            }
            # This browser's first, then the newest.
            for d in sorted(devices, key=lambda d: d.id != browser.claims.session_id)
        ],
        "mfa_on": factor is not None and factor.confirmed_at is not None,
        "month": month,
        "wallet": held,
        # "Jobs are free on this server" unless a price is set for some currency (a currency
        # absent from the setting runs jobs free: wallet/service).
        "prices": prices,
        "money": money,
        "confirm_word": confirmation_word(user.handle, user.email),
        # Each published document with the version this person accepted (None: not accepted).
        "policies": [
            {
                "document": p.document,
                "title": POLICY_TITLES.get(p.document, p.document),
                "current": p.version,
                "accepted": next(
                    (c for c in agreed if c.document == p.document and c.withdrawn_at is None),
                    None,
                ),
            }
            for p in policies
        ],
    }
    return page(request, ctx, "account.html", context, browser, status_code=status_code)


@router.get("/account", response_class=HTMLResponse)
async def account_view(request: Request, ctx: Context, browser: ConsoleUser) -> Response:
    """The account: profile, sign-in accounts, devices, second factor, data, usage, erasure."""
    return await account_page(request, ctx, browser)


@router.post("/account/delete")
async def account_delete(
    request: Request,
    ctx: Context,
    browser: FormUser,
    confirm: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    """Erase the account once its owner typed the confirmation word, sign this browser out and
    say it is done."""
    async with live_user_session(ctx, browser.claims) as session:
        user = await users.get(session, browser.claims.user_id)
        word = confirmation_word(user.handle, user.email)
        typed = confirm.strip()
        if not hmac.compare_digest(typed.encode(), word.encode()):
            refused = True
        else:
            refused = False
            await users.forget_link_codes(session, ctx.database, browser.claims.user_id)
            await users.erase(session, browser.claims.user_id, ctx.keyring)
    if refused:
        return await account_page(
            request,
            ctx,
            browser,
            delete_error=f"Type {word} exactly to delete the account.",
            status_code=422,
        )
    response = go("/console/account/deleted", ctx)
    cookies.clear_session(response, ctx)
    return response


@router.get("/account/deleted", response_class=HTMLResponse)
async def account_deleted(request: Request, ctx: Context) -> Response:
    """Where erasure lands: a page saying it is done (nothing of the account is read)."""
    return page(request, ctx, "account_deleted.html", {})
