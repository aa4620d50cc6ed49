"""The console's typed dependencies: who is signed in in this browser, and their transaction.

- `Visitor`: the browser's user if signed in (rotating an expired access token once), else None.
- `ConsoleUser`: a signed-in user; anyone else is sent to the sign-in page.
- `FormUser`: a signed-in user posting one of our own forms (the CSRF check: 403 otherwise).
- `ConsoleSession`: the user's RLS transaction for the request, opened only while their device
  session is live, committed before the page is sent (the console's `UserSession`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Form, Request
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.auth.dependencies import Context, live_user_session
from offcoder.console import session as cookies
from offcoder.console.session import Browser
from offcoder.privacy import consent
from offcoder.problems import Problem


class SignInNeeded(Exception):
    """Raised for a console page that needs a signed-in user: answered by the sign-in page."""


class ConsentNeeded(Exception):
    """Raised for a console page while the user has not accepted a current policy version:
    answered by the consent page, which comes back to `next_path` once accepted."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


# Pages reachable without consent to the current policies: the consent page itself, and the
# account (with its sign-in accounts) where a person who does not agree can download their data,
# withdraw, or delete the account (decision 0035).
CONSENT_FREE = ("/console/consent", "/console/account", "/console/identities")


async def visitor(request: Request, ctx: Context) -> Browser | None:
    """This browser's signed-in user, or None."""
    return await cookies.signed_in(request, ctx)


Visitor = Annotated[Browser | None, Depends(visitor)]


async def console_user(request: Request, ctx: Context, browser: Visitor) -> Browser:
    """The signed-in user, or a redirect to the sign-in page; or to the consent page while a
    current policy version waits for their acceptance (none published: nobody is asked)."""
    if browser is None:
        raise SignInNeeded
    if not request.url.path.startswith(CONSENT_FREE):
        async with ctx.database.user_session(browser.claims.user_id) as session:
            if await consent.missing(session, browser.claims.user_id):
                raise ConsentNeeded(request.url.path)
    return browser


ConsoleUser = Annotated[Browser, Depends(console_user)]


def check_csrf(request: Request, ctx: Context, csrf: str | None) -> None:
    """403 unless the form carries this browser's CSRF token and came from our origin."""
    if not cookies.csrf_ok(request, ctx, csrf):
        raise Problem(403, "csrf", "The form is stale or did not come from this site; reload it.")


async def csrf_checked(
    request: Request, ctx: Context, csrf: Annotated[str | None, Form()] = None
) -> None:
    """The CSRF check alone, for a form anyone may post (signing out)."""
    check_csrf(request, ctx, csrf)


CsrfChecked = Depends(csrf_checked)


async def form_user(
    request: Request,
    ctx: Context,
    browser: ConsoleUser,
    csrf: Annotated[str | None, Form()] = None,
) -> Browser:
    """The signed-in user posting a form from our own pages (else a sign-in redirect or 403)."""
    check_csrf(request, ctx, csrf)
    return browser


FormUser = Annotated[Browser, Depends(form_user)]


async def console_transaction(ctx: Context, browser: ConsoleUser) -> AsyncIterator[AsyncSession]:
    """The signed-in user's RLS transaction for this request."""
    async with live_user_session(ctx, browser.claims) as session:
        yield session


# scope="function": committed before the page is sent, like the API's `UserSession`.
ConsoleSession = Annotated[AsyncSession, Depends(console_transaction, scope="function")]
