"""The web console: server-rendered pages over the same services as the API (D1 applies: every
read and write runs in the signed-in user's RLS transaction)."""

from __future__ import annotations

import hmac
import secrets
import uuid
from decimal import Decimal, InvalidOperation
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException

from offcoder.audit.service import ActorKind
from offcoder.auth import service as auth_service
from offcoder.auth.dependencies import Context, live_user_session
from offcoder.auth.oidc import ProviderError
from offcoder.auth.pkce import pkce_challenge
from offcoder.auth.service import EndReason
from offcoder.console import device as device_pages
from offcoder.console import pwa
from offcoder.console import session as cookies
from offcoder.console.account import account_page
from offcoder.console.account import router as account_router
from offcoder.console.auth import (
    ConsentNeeded,
    ConsoleSession,
    ConsoleUser,
    CsrfChecked,
    FormUser,
    SignInNeeded,
    Visitor,
)
from offcoder.console.consent import router as consent_router
from offcoder.console.project_settings import router as project_settings_router
from offcoder.console.project_settings import settings_page
from offcoder.console.rendering import HERE, go, money, page
from offcoder.console.run import (
    default_run_command,
    image_for,
    job_command,
)
from offcoder.console.session import Browser
from offcoder.context import AppContext, get_context
from offcoder.jobs import service as jobs
from offcoder.jobs.schemas import PREVIEW_PORTS, JobCreate
from offcoder.kit.transactions import SystemSession, system_transaction
from offcoder.payments import topups
from offcoder.payments.models import Topup, UserPlan
from offcoder.problems import CommitThenRefuse, InvalidInput, NotFound, Problem, Unauthorized
from offcoder.projects import repository as project_rows
from offcoder.projects import service as projects
from offcoder.projects.quota import StorageQuota
from offcoder.ratelimits.dependencies import SignInLimited, TokenRefreshLimited
from offcoder.wallet import service as wallet

router = APIRouter(prefix="/console", include_in_schema=False)

MAX_EDITOR_BYTES = 512 * 1024


# ------------------------------------------------------------------ sign-in


@router.post("/session/refresh", dependencies=[TokenRefreshLimited])
async def session_refresh(request: Request, ctx: Context) -> Response:
    """New session cookies for a page whose scripts got 401 from /v1 (auth/dependencies):
    204 with the cookies, 401 when signed out (the page goes to sign-in), 403 without the
    page's CSRF header. Plain statuses: only our scripts call this."""
    if not cookies.from_our_page(request, ctx):
        return Response(status_code=403)
    issued = await cookies.renewed_tokens(request, ctx)
    if issued is None:
        response = Response(status_code=401)
        cookies.clear_session(response, ctx)
        return response
    response = Response(status_code=204)
    cookies.store_tokens(response, ctx, issued)
    return response


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
async def home(request: Request, ctx: Context, browser: Visitor) -> Response:
    """The sign-in page, or the projects of a signed-in user."""
    if browser is not None:
        return go("/console/projects", ctx, browser)
    providers = [{"name": p.name, "display_name": p.display_name} for p in ctx.providers.values()]
    after = device_pages.page_after_sign_in(request, ctx)
    notice = "Sign in to approve a device; you come back to its code after." if after else None
    return page(
        request, ctx, "signin.html", {"providers": providers, "error": None, "notice": notice}
    )


@router.get("/signin/{provider}")
async def signin(request: Request, provider: str, ctx: Context) -> Response:
    """Start signing in through the broker, with PKCE between this browser and us."""
    if provider not in ctx.providers:
        return page(
            request,
            ctx,
            "signin.html",
            {"providers": [], "error": "That sign-in provider is not enabled."},
            status_code=404,
        )
    verifier = secrets.token_urlsafe(48)
    state = secrets.token_urlsafe(16)
    challenge = pkce_challenge(verifier)
    query = urlencode(
        {
            "redirect_uri": ctx.settings.console_callback_url,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "device_name": "Web console",
        }
    )
    response = go(f"/v1/auth/{quote(provider)}/authorize?{query}", ctx)
    # state and verifier are URL-safe base64: a dot joins them without cookie quoting.
    cookies.set_cookie(response, ctx, cookies.SIGNIN_COOKIE, f"{state}.{verifier}", 600)
    return response


# Counted as a sign-in step per client address (it exchanges a one-time code), before its
# transaction is opened.
@router.get("/callback", dependencies=[SignInLimited])
async def callback(
    request: Request,
    ctx: Context,
    session: SystemSession,
    state: str = "",
    code: str | None = None,
    error: str | None = None,
) -> Response:
    """The broker sends the browser back here with its one-time code."""
    started, _, verifier = (
        cookies.read_cookie(request, ctx, cookies.SIGNIN_COOKIE) or ""
    ).partition(".")
    failure = None
    if error or not code:
        failure = "Sign-in was cancelled or refused by the provider."
    elif not started or not verifier or not secrets.compare_digest(started, state):
        failure = "This sign-in did not start in this browser; start again."
    if failure is None:
        ip = request.client.host if request.client else None
        try:
            issued = await auth_service.exchange_code(session, ctx, str(code), verifier, ip)
        except CommitThenRefuse:
            # Answered with a page, not raised: the request's transaction still commits the spend.
            failure = "The sign-in code was not accepted; start again."
        else:
            # Back to the page that sent this browser to sign in (a device's code), if any.
            resumed = device_pages.page_after_sign_in(request, ctx)
            response = go(resumed or "/console/projects", ctx)
            cookies.store_tokens(response, ctx, issued.as_response())
            cookies.delete_cookie(response, ctx, cookies.SIGNIN_COOKIE)
            if resumed is not None:
                cookies.delete_cookie(response, ctx, cookies.NEXT_COOKIE)
            return response
    providers = [{"name": p.name, "display_name": p.display_name} for p in ctx.providers.values()]
    return page(
        request, ctx, "signin.html", {"providers": providers, "error": failure}, status_code=400
    )


@router.post("/signout", dependencies=[CsrfChecked])
async def signout(ctx: Context, browser: Visitor) -> Response:
    """End this browser's device session and forget its cookies."""
    if browser is not None:
        # Not a ConsoleSession, which refuses ended sessions: signing out always works.
        async with ctx.database.user_session(browser.claims.user_id) as session:
            device = await auth_service.live_session(session, browser.claims.session_id)
            if device is not None:
                await auth_service.end_device_session(
                    session,
                    device,
                    EndReason.logout,
                    actor_kind=ActorKind.user,
                    actor_id=browser.claims.user_id,
                )
    response = go("/console", ctx)
    cookies.clear_session(response, ctx)
    return response


# ------------------------------------------------------------------ linked identities (A2)
# A link is started by a CSRF-checked form of the signed-in user, which keeps its secrets in a
# cookie of this browser; the provider step's code is redeemed only with that cookie (and, in
# the service, only for this same user and with the PKCE verifier the cookie holds).


async def identities_page(
    request: Request,
    ctx: AppContext,
    browser: Browser,
    *,
    continue_to: dict[str, str] | None = None,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """The sign-in accounts are a section of the account page (console/account)."""
    return await account_page(
        request,
        ctx,
        browser,
        continue_to=continue_to,
        notice=notice,
        error=error,
        status_code=status_code,
    )


@router.get("/identities", response_class=HTMLResponse)
async def identities_view(request: Request, ctx: Context, browser: ConsoleUser) -> Response:
    """The account page, whose sign-in accounts section lists the provider accounts this
    account signs in with, with a button to link another (the older address of that list)."""
    return await identities_page(request, ctx, browser)


@router.post("/identities/{provider}/link")
async def link_start(request: Request, provider: str, ctx: Context, browser: FormUser) -> Response:
    """Start linking another provider: a page with the link to its sign-in."""
    chosen = ctx.providers.get(provider)
    if chosen is None:
        raise NotFound("sign-in provider")
    # The device session must be live before anything is started in its name; checked only
    # now, so an unknown provider is a 404 first.
    async with live_user_session(ctx, browser.claims):
        pass
    verifier = secrets.token_urlsafe(48)
    state = secrets.token_urlsafe(16)
    binding = secrets.token_urlsafe(32)
    try:
        # Committed before the page below is read in the user's own transaction.
        async with system_transaction(ctx) as session:
            url = await auth_service.begin_link(
                session,
                ctx,
                chosen,
                user_id=browser.claims.user_id,
                redirect_uri=auth_service.console_link_callback_url(ctx),
                client_state=state,
                code_challenge=pkce_challenge(verifier),
                code_challenge_method="S256",
                browser_binding=binding,
            )
    except ProviderError as exc:
        raise Problem(502, "provider-unavailable", str(exc)) from exc
    # A page with a link to the provider, not a redirect: the CSP's form-action allows form
    # posts, redirects included, only to us.
    response = await identities_page(
        request, ctx, browser, continue_to={"url": url, "display_name": chosen.display_name}
    )
    # All four parts are URL-safe base64 or a provider name: a dot joins them unquoted.
    cookies.set_cookie(
        response, ctx, cookies.LINK_COOKIE, ".".join((provider, state, verifier, binding)), 600
    )
    return response


@router.get("/identities/callback")
async def link_callback(
    request: Request,
    ctx: Context,
    browser: Visitor,
    state: str = "",
    code: str | None = None,
    error: str | None = None,
) -> Response:
    """The provider step of a link comes back here with a link code; only the browser that
    started the link, holding its cookie, finishes it. Every landing spends the code, refused
    or not: one that lands in the wrong browser is dead wherever it is forwarded."""
    parts = (cookies.read_cookie(request, ctx, cookies.LINK_COOKIE) or "").split(".")
    ours = len(parts) == 4 and hmac.compare_digest(parts[1].encode(), state.encode())
    if code and (browser is None or not ours or error):
        # Refused before the service sees it, so spent here. The browser that started the link
        # holds the verifier and the cookie: a landing URL that reached someone else's browser
        # (a provider URL sent to them) must not work if it is sent back.
        async with system_transaction(ctx) as session:
            await auth_service.spend_link_code(session, code)
    if browser is None:
        response = go("/console", ctx)
        cookies.clear_session(response, ctx)
        if ours:
            cookies.delete_cookie(response, ctx, cookies.LINK_COOKIE)
        return response
    if not ours:
        # Someone else's link (a URL sent to this person), or one started in another browser.
        # This browser's own link cookie, if any, belongs to another flow: it is left alone.
        return await identities_page(
            request,
            ctx,
            browser,
            error="This link did not start in this browser; nothing was linked.",
            status_code=400,
        )
    provider, _, verifier, binding = parts
    display_name = ctx.providers[provider].display_name if provider in ctx.providers else provider
    if error or not code:
        response = await identities_page(
            request,
            ctx,
            browser,
            error=f"{display_name} cancelled or refused the link; nothing was linked.",
            status_code=400,
        )
    else:
        try:
            # Committed before the page reads the identities in the user's own transaction.
            async with system_transaction(ctx) as session:
                await auth_service.complete_link(
                    session, browser.claims, provider, code, verifier, browser_binding=binding
                )
        except CommitThenRefuse as refused:
            if isinstance(refused.problem, Unauthorized):
                response = go("/console", ctx)
                cookies.clear_session(response, ctx)
            else:
                response = await identities_page(
                    request, ctx, browser, error=refused.detail, status_code=refused.status
                )
        else:
            response = await identities_page(
                request, ctx, browser, notice=f"{display_name} is linked."
            )
    # Whatever the outcome, this link is over: its code is spent.
    cookies.delete_cookie(response, ctx, cookies.LINK_COOKIE)
    return response


# ------------------------------------------------------------------ projects


@router.get("/projects", response_class=HTMLResponse)
async def project_list(
    request: Request, ctx: Context, browser: ConsoleUser, session: ConsoleSession
) -> Response:
    """The user's projects, newest first, and a form to create one."""
    return await projects_page(request, ctx, browser, session)


async def projects_page(
    request: Request,
    ctx: AppContext,
    browser: Browser,
    session: AsyncSession,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    user = browser.claims.user_id
    rows, _ = await projects.list_projects(session, user, None, 100)
    # "Updated" is the project's own last change or its files' latest, whichever is later: a
    # project's row does not change when a file is saved.
    files = await project_rows.files_last_changed(session, user, [p.id for p in rows])
    listed = [
        {
            "id": p.id,
            "name": p.name,
            "slug": p.slug,
            "updated_at": max(p.updated_at, files.get(p.id, p.updated_at)),
        }
        for p in rows
    ]
    return page(
        request,
        ctx,
        "projects.html",
        {"projects": listed, "error": error},
        browser,
        status_code=status_code,
    )


@router.post("/projects")
async def project_create(
    request: Request,
    ctx: Context,
    browser: FormUser,
    session: ConsoleSession,
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Create a project and open it; a refused name comes back on the list page."""
    try:
        # A savepoint: a refusal undoes only this write, and the page is read after it.
        async with session.begin_nested():
            project = await projects.create_project(
                session, browser.claims.user_id, name, storage=StorageQuota.of(ctx.settings)
            )
    except Problem as exc:
        return await projects_page(
            request, ctx, browser, session, error=exc.detail, status_code=exc.status
        )
    return go(f"/console/projects/{project.id}", ctx, browser)


async def project_page(
    request: Request,
    ctx: AppContext,
    browser: Browser,
    session: AsyncSession,
    project_id: uuid.UUID,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    user = browser.claims.user_id
    project = await projects.get_project(session, user, project_id)
    files, _ = await projects.list_files(session, user, project_id, None, 200)
    history, _ = await jobs.list_for_project(session, user, project_id, None, 20)
    line = project.run_command or default_run_command(f.path for f in files)
    return page(
        request,
        ctx,
        "project.html",
        {
            "project": project,
            "files": files,
            "jobs": history,
            "run_line": line,
            "run_command": job_command(line),
            "preview_ports": sorted(PREVIEW_PORTS),
            # The editor refuses a bigger upload before sending it (the API's body limit).
            "max_file_bytes": ctx.settings.max_file_bytes,
            "error": error,
        },
        browser,
        status_code=status_code,
    )


@router.get("/projects/{project_id}", response_class=HTMLResponse)
async def project_view(
    request: Request,
    project_id: uuid.UUID,
    ctx: Context,
    browser: ConsoleUser,
    session: ConsoleSession,
) -> Response:
    """A project: its files and latest jobs (its secrets are on its settings page)."""
    return await project_page(request, ctx, browser, session, project_id)


@router.get("/projects/{project_id}/edit", response_class=HTMLResponse)
async def file_edit(
    request: Request,
    project_id: uuid.UUID,
    ctx: Context,
    browser: ConsoleUser,
    session: ConsoleSession,
    path: str = "main.py",
) -> Response:
    """The editor, on a file of the project (empty for a new one)."""
    user = browser.claims.user_id
    content = ""
    project = await projects.get_project(session, user, project_id)
    try:
        stored = await projects.read_file(session, user, project_id, path)
        content = bytes(stored.content).decode("utf-8", errors="replace")
    except Problem as exc:
        if exc.status != 404:
            raise
    return page(
        request,
        ctx,
        "editor.html",
        {"project": project, "path": path, "content": content, "error": None},
        browser,
    )


@router.post("/projects/{project_id}/files")
async def file_save(
    request: Request,
    project_id: uuid.UUID,
    ctx: Context,
    browser: FormUser,
    session: ConsoleSession,
    path: Annotated[str, Form(max_length=1024)],
    content: Annotated[str, Form(max_length=MAX_EDITOR_BYTES)] = "",
) -> Response:
    """Save the editor's file; a refusal comes back in the editor with the text kept."""
    user = browser.claims.user_id
    try:
        # A savepoint: a refusal undoes only this write, and the page is read after it.
        async with session.begin_nested():
            await projects.put_file(
                session,
                user,
                project_id,
                path,
                content.replace("\r\n", "\n").encode(),
                max_project_bytes=ctx.settings.max_project_bytes,
                storage=StorageQuota.of(ctx.settings),
            )
    except Problem as exc:
        if exc.status == 404:
            raise
        project = await projects.get_project(session, user, project_id)
        return page(
            request,
            ctx,
            "editor.html",
            {"project": project, "path": path, "content": content, "error": exc.detail},
            browser,
            status_code=exc.status,
        )
    return go(f"/console/projects/{project_id}", ctx, browser)


@router.post("/projects/{project_id}/secrets")
async def secret_save(
    request: Request,
    project_id: uuid.UUID,
    ctx: Context,
    browser: FormUser,
    session: ConsoleSession,
    name: Annotated[str, Form(max_length=256)],
    value: Annotated[str, Form(max_length=70_000)],
) -> Response:
    """Seal and store a secret of the project (the form of its settings page)."""
    try:
        # A savepoint: a refusal undoes only this write, and the page is read after it.
        async with session.begin_nested():
            await projects.put_secret(
                session,
                ctx.keyring,
                browser.claims.user_id,
                project_id,
                name,
                value,
                max_secrets=ctx.settings.max_secrets_per_project,
                max_total_bytes=ctx.settings.max_project_secret_bytes,
            )
    except Problem as exc:
        if exc.status == 404:
            raise
        return await settings_page(
            request, ctx, browser, session, project_id, error=exc.detail, status_code=exc.status
        )
    return go(f"/console/projects/{project_id}/settings#secrets-section", ctx, browser)


@router.post("/projects/{project_id}/run")
async def run(
    request: Request,
    project_id: uuid.UUID,
    ctx: Context,
    browser: FormUser,
    session: ConsoleSession,
    command: Annotated[str, Form(max_length=16 * 1024)],
    network: Annotated[str, Form(max_length=16)] = "none",
    port: Annotated[int | None, Form()] = None,
) -> Response:
    """Queue the run line as a job of the project, remember it as the project's run command,
    and open the job's page (the Run pane's form without its script)."""
    user = browser.claims.user_id
    if not command.strip():
        return await project_page(
            request,
            ctx,
            browser,
            session,
            project_id,
            error="Give a command to run.",
            status_code=422,
        )
    try:
        argv = job_command(command)
        body = JobCreate(
            command=argv,
            image=image_for(argv) if argv else "python",
            network=network,
            ports=[port] if network == "preview" and port is not None else [],
        )
        # A savepoint: a refusal undoes only these writes, and the page is read after them.
        async with session.begin_nested():
            await projects.update_project(session, user, project_id, {"run_command": command})
            job = await jobs.submit(session, ctx.settings, user, project_id, body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return await project_page(
            request,
            ctx,
            browser,
            session,
            project_id,
            error=f"The run was not accepted ({where}: {first['msg']}).",
            status_code=422,
        )
    except Problem as exc:
        if exc.status == 404:
            raise
        return await project_page(
            request, ctx, browser, session, project_id, error=exc.detail, status_code=exc.status
        )
    return go(f"/console/jobs/{job.id}", ctx, browser)


# ------------------------------------------------------------------ wallet


def minor_units(text: str) -> int:
    """ "12.50" -> 1250: decimal text, at most two places (422 otherwise; no float rounding)."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise InvalidInput("The amount is a number like 10 or 12.50.") from exc
    if not value.is_finite() or value != value.quantize(Decimal("0.01")):
        raise InvalidInput("The amount is a number like 10 or 12.50.")
    if value <= 0:
        raise InvalidInput("The amount must be positive.")
    return int(value * 100)


async def wallet_page(
    request: Request,
    ctx: AppContext,
    browser: Browser,
    session: AsyncSession,
    *,
    topup_id: uuid.UUID | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    user_id = browser.claims.user_id
    held = await wallet.view(session, ctx.settings, user_id)
    rows, _ = await wallet.history(session, user_id, None, 20)
    plan = await session.scalar(select(UserPlan).where(UserPlan.user_id == user_id))
    topup = None
    if topup_id is not None:
        topup = await session.scalar(
            select(Topup).where(Topup.id == topup_id, Topup.user_id == user_id)
        )
    transactions = [
        {
            "created_at": t.created_at,
            "kind": t.kind,
            "currency": t.currency,
            "amount": wallet.spendable_change(entries),
            "balance_after": t.balance_after,
        }
        for t, entries in rows
    ]
    return page(
        request,
        ctx,
        "wallet.html",
        {
            "wallet": held,
            "plan": plan,
            "topup": topup,
            "transactions": transactions,
            # Stripe first: it takes every currency; Razorpay only its own.
            "providers": [p for p in ("stripe", "razorpay") if p in ctx.payments],
            "currencies": ctx.settings.currencies,
            "form_key": str(uuid.uuid4()),  # one top-up per form shown, however often sent
            "money": money,
            "error": error,
        },
        browser,
        status_code=status_code,
    )


@router.get("/wallet", response_class=HTMLResponse)
async def wallet_view(
    request: Request,
    ctx: Context,
    browser: ConsoleUser,
    session: ConsoleSession,
    topup: uuid.UUID | None = None,
) -> Response:
    """The balance, a top-up form and the latest transactions; the providers' checkout pages
    send the customer back here with `?topup=<id>`."""
    return await wallet_page(request, ctx, browser, session, topup_id=topup)


@router.post("/wallet/topups")
async def wallet_topup(
    request: Request,
    ctx: Context,
    browser: FormUser,
    amount: Annotated[str, Form(max_length=32)] = "",
    currency: Annotated[str, Form(max_length=8)] = "",
    provider: Annotated[str, Form(max_length=16)] = "",
    key: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Start a top-up at the chosen provider; our wallet page links to its checkout."""
    try:
        started = await topups.start(
            ctx,
            browser.claims,
            provider_name=provider,
            amount=minor_units(amount),
            currency=currency,
            idempotency_key=f"console:{key}" if key else None,
        )
    except Problem as exc:
        # Its own transaction, not a ConsoleSession: the top-up saga above calls the provider
        # between transactions of its own and holds no connection while it waits.
        async with live_user_session(ctx, browser.claims) as session:
            return await wallet_page(
                request, ctx, browser, session, error=exc.detail, status_code=exc.status
            )
    # To our own page, which links to the provider's: the console's CSP allows form posts only
    # to us, redirects included.
    return go(f"/console/wallet?topup={started.id}", ctx, browser)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
async def job_view(
    request: Request,
    job_id: uuid.UUID,
    ctx: Context,
    browser: ConsoleUser,
    session: ConsoleSession,
) -> Response:
    """A job: its status, and its output live."""
    user = browser.claims.user_id
    job = await jobs.get(session, user, job_id)
    # The last screen of output, for a browser without scripts (the script reads it live).
    tail = ""
    if job.log_purged_at is None:
        window = await jobs.log_window(session, user, job_id, limit=100)
        tail = "".join(c.data for c in window.chunks)
    return page(request, ctx, "job.html", {"job": job, "tail": tail}, browser)


def install(app: Any) -> None:
    """The console's router, its static files and what turns errors into pages."""
    from fastapi.staticfiles import StaticFiles

    app.include_router(router)
    app.include_router(pwa.router)
    app.include_router(account_router)
    app.include_router(consent_router)
    app.include_router(project_settings_router)
    app.include_router(device_pages.router)
    app.mount("/console/static", StaticFiles(directory=str(HERE / "static")), name="console")

    async def sign_in_needed(request: Request, _: Exception) -> Response:
        response = RedirectResponse("/console", status_code=303)
        ctx = get_context(request)
        cookies.clear_session(response, ctx)
        device_pages.remember_after_sign_in(request, response, ctx)
        return response

    app.add_exception_handler(SignInNeeded, sign_in_needed)

    async def consent_needed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ConsentNeeded)
        return RedirectResponse(
            "/console/consent?" + urlencode({"next": exc.next_path}), status_code=303
        )

    app.add_exception_handler(ConsentNeeded, consent_needed)

    # Errors under /console are pages; everywhere else they stay problem+json.
    api_handler = app.exception_handlers[Problem]

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        if not request.url.path.startswith("/console"):
            return await api_handler(request, exc)  # type: ignore[no-any-return]
        if isinstance(exc, Unauthorized):
            return await sign_in_needed(request, exc)
        ctx = get_context(request)
        browser = await cookies.signed_in(request, ctx)
        response = page(
            request,
            ctx,
            "error.html",
            {"status": exc.status, "title": exc.title, "detail": exc.detail},
            browser,
            status_code=exc.status,
        )
        # The problem's own headers (a 429's Retry-After) hold for its page too.
        response.headers.update(exc.headers or {})
        return response

    app.add_exception_handler(Problem, on_problem)

    # A console address that does not exist, or whose id is not one (a cut-off link), is a
    # page too: the framework answers those before any route, as problem+json.
    http_handler = app.exception_handlers[StarletteHTTPException]
    validation_handler = app.exception_handlers[RequestValidationError]
    no_such_page = "There is no such page. The link may be old or cut off."

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not request.url.path.startswith("/console"):
            return await http_handler(request, exc)  # type: ignore[no-any-return]
        status = exc.status_code
        detail = no_such_page if status == 404 else HTTPStatus(status).phrase + "."
        return await on_problem(request, Problem(status, "http-error", detail))

    async def on_invalid_address(request: Request, exc: Exception) -> Response:
        if not request.url.path.startswith("/console") or request.method != "GET":
            return await validation_handler(request, exc)  # type: ignore[no-any-return]
        return await on_problem(request, Problem(404, "not-found", no_such_page))

    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_invalid_address)

    # A failure of ours under /console is a page too, with no more of it than the API says.
    unexpected_handler = app.exception_handlers[Exception]

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        response: Response = await unexpected_handler(request, exc)
        if not request.url.path.startswith("/console"):
            return response
        return page(
            request,
            get_context(request),
            "error.html",
            {
                "status": 500,
                "title": "Something went wrong",
                "detail": "Something went wrong on our side; nothing was changed. "
                "Try again in a moment.",
            },
            None,
            status_code=500,
        )

    app.add_exception_handler(Exception, on_unexpected)
