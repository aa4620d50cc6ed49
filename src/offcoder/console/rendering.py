"""How console pages are answered: a template with the page's CSRF token and the top bar's
section, the renewed session cookies when the request rotated them, and redirects after forms.
Shared by every console router (endpoints, account)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from offcoder.console import session as cookies
from offcoder.console.run import job_words, shown_command
from offcoder.console.session import Browser
from offcoder.context import AppContext

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
# What the run pane and the job page say about a job, in the same words everywhere.
templates.env.globals.update(job_words=job_words, shown_command=shown_command)


def page(
    request: Request,
    ctx: AppContext,
    name: str,
    context: dict[str, Any],
    browser: Browser | None = None,
    status_code: int = 200,
) -> Response:
    response = HTMLResponse("")
    token = cookies.csrf_token(request, response, ctx)
    rendered = templates.TemplateResponse(
        request,
        name,
        {
            "csrf": token,
            "csrf_field": cookies.CSRF_FIELD,
            "signed_in": browser is not None,
            "section": section_of(request.url.path),
        }
        | context,
        status_code=status_code,
    )
    for key, value in response.headers.items():
        if key.lower() == "set-cookie":
            rendered.headers.append("set-cookie", value)
    return finish(rendered, ctx, browser)


def section_of(path: str) -> str:
    """Which part of the top bar a page belongs to (marked as the current one)."""
    for section, prefixes in SECTIONS.items():
        if path.startswith(prefixes):
            return section
    return ""


SECTIONS = {
    "projects": ("/console/projects", "/console/jobs"),
    "wallet": ("/console/wallet",),
    "account": ("/console/account", "/console/identities", "/console/device"),
}


def finish(response: Response, ctx: AppContext, browser: Browser | None) -> Response:
    # The CSP and the other security headers of pages: web/headers.page_headers, by route.
    if browser is not None and browser.renewed is not None:
        cookies.store_tokens(response, ctx, browser.renewed)
    return response


def go(url: str, ctx: AppContext, browser: Browser | None = None) -> Response:
    return finish(RedirectResponse(url, status_code=303), ctx, browser)


def money(amount: int, currency: str) -> str:
    """Minor units as the currency's usual two decimals (all accepted currencies have two)."""
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(amount), 100)
    return f"{sign}{whole}.{cents:02d} {currency}"
