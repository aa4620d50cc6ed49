"""The console's consent page (V3, issue 18 item 4): after sign-in, before any other page, a
person is asked to accept the current version of each published policy they have not accepted;
withdrawal is on the account page. Both go through privacy/consent, like `/v1/me/consents`.

Plain forms, not scripts: the page must work before anything else of the console loads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse

from offcoder.auth.dependencies import Context, live_user_session
from offcoder.console.account import POLICY_TITLES as TITLES
from offcoder.console.account import account_page
from offcoder.console.auth import ConsoleUser, FormUser
from offcoder.console.rendering import go, page
from offcoder.privacy import consent
from offcoder.problems import Conflict

router = APIRouter(prefix="/console", include_in_schema=False)

HOME = "/console/projects"


def safe_next(next_path: str | None) -> str:
    """Only a console page of ours: never another site (`//host`, `/\\host`)."""
    if (
        next_path
        and next_path.startswith("/console/")
        and not next_path.startswith(("//", "/\\"))
        and "\\" not in next_path
        and not next_path.startswith("/console/consent")
    ):
        return next_path
    return HOME


async def consent_page(
    request: Request,
    ctx: Context,
    browser: ConsoleUser,
    next_path: str | None,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    async with live_user_session(ctx, browser.claims) as session:
        missing = await consent.missing(session, browser.claims.user_id)
        earlier = {c.document for c in await consent.history(session, browser.claims.user_id)}
    if not missing:
        return go(safe_next(next_path), ctx, browser)
    context = {
        "missing": [
            {
                "document": v.document,
                "title": TITLES.get(v.document, v.document),
                "version": v.version,
                "url": v.url,
                "summary": v.summary,
                # "updated" rather than "new to you": they accepted an older one, or withdrew.
                "again": v.document in earlier,
            }
            for v in missing
        ],
        "next": safe_next(next_path),
        "error": error,
    }
    return page(request, ctx, "consent.html", context, browser, status_code=status_code)


@router.get("/consent", response_class=HTMLResponse)
async def consent_view(
    request: Request, ctx: Context, browser: ConsoleUser, next: str | None = None
) -> Response:
    """The current versions this person has not accepted, and a button to accept them."""
    return await consent_page(request, ctx, browser, next)


@router.post("/consent")
async def consent_accept(
    request: Request,
    ctx: Context,
    browser: FormUser,
    accept: Annotated[list[str], Form()],
    next: Annotated[str | None, Form()] = None,
) -> Response:
    """Accept the versions the page showed (`document:version` each). A version published
    since the page was shown is refused, and the page shown again with it."""
    try:
        async with live_user_session(ctx, browser.claims) as session:
            for item in accept:
                document, _, version = item.partition(":")
                await consent.accept(session, browser.claims.user_id, document, version)
    except Conflict:
        return await consent_page(
            request,
            ctx,
            browser,
            next,
            error="A policy changed while this page was open. Read the current version below.",
            status_code=409,
        )
    return go(safe_next(next), ctx, browser)


@router.post("/account/consents/{document}/withdraw")
async def consent_withdraw(
    request: Request, ctx: Context, browser: FormUser, document: consent.Document
) -> Response:
    """Withdraw acceptance of a policy: the console then asks again before any page but this
    account page (decision 0035)."""
    async with live_user_session(ctx, browser.claims) as session:
        standing = await consent.history(session, browser.claims.user_id)
        if any(c.document == document.value and c.withdrawn_at is None for c in standing):
            await consent.withdraw(session, browser.claims.user_id, document.value)
    return await account_page(
        request,
        ctx,
        browser,
        policy_notice=f"You withdrew your acceptance of the {TITLES[document.value].lower()}. "
        "You can still download your data or delete your account here; to use OffCoder "
        "again, accept it on any other page.",
    )
