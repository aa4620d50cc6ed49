"""The application factory: FastAPI with its middleware, routers and error handling."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from offcoder import __version__, problems
from offcoder.admin.endpoints import router as admin_router
from offcoder.ai import moderation
from offcoder.ai.admin import router as ai_admin_router
from offcoder.ai.endpoints import router as ai_router
from offcoder.auth.endpoints import link_router
from offcoder.auth.endpoints import router as auth_router
from offcoder.auth.oauth2 import BitbucketProvider, GitHubProvider
from offcoder.auth.oidc import IdentityProvider, OIDCProvider
from offcoder.auth.tokens import InvalidAccessToken, TokenSigner, load_signing_key
from offcoder.config import Settings
from offcoder.context import AppContext
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.dependencies.endpoints import router as dependencies_router
from offcoder.incidents.admin import router as incidents_admin_router
from offcoder.jobs.admin import router as jobs_admin_router
from offcoder.jobs.endpoints import router as jobs_router
from offcoder.payments import providers as payment_providers
from offcoder.payments.admin import router as payments_admin_router
from offcoder.payments.endpoints import router as payments_router
from offcoder.payments.webhooks import router as webhooks_router
from offcoder.previews.endpoints import console_router as previews_console_router
from offcoder.previews.endpoints import router as previews_router
from offcoder.privacy.consent_endpoints import router as consent_router
from offcoder.privacy.endpoints import router as privacy_router
from offcoder.projects.endpoints import router as projects_router
from offcoder.ratelimits.service import RateLimits
from offcoder.realtime.signals import Signals
from offcoder.users.endpoints import router as me_router
from offcoder.wallet.endpoints import router as wallet_router
from offcoder.web import transport
from offcoder.web.docs import DocsPages
from offcoder.web.endpoints import router as service_router
from offcoder.web.headers import (
    HeaderPolicies,
    SecurityHeadersMiddleware,
    api_headers,
    docs_headers,
    page_headers,
)
from offcoder.web.middleware import BodyLimitMiddleware, RequestIdMiddleware
from offcoder.web.origins import PublicOriginMiddleware
from offcoder.worker.context import WorkerContext

FILE_PATH = re.compile(r"^/v1/projects/[^/]+/files/.+")


def identity_providers(settings: Settings) -> dict[str, IdentityProvider]:
    """Every sign-in provider whose client id and secret are configured (A1)."""
    providers: dict[str, IdentityProvider] = {}
    for name, display, issuer in (
        ("google", "Google", settings.google_issuer),
        ("gitlab", "GitLab", settings.gitlab_issuer),
        ("linkedin", "LinkedIn", settings.linkedin_issuer),
    ):
        client_id = getattr(settings, f"{name}_client_id")
        secret = getattr(settings, f"{name}_client_secret")
        if client_id and secret:
            providers[name] = OIDCProvider(
                name, display, issuer, client_id, secret.get_secret_value()
            )
    for name, display, kind in (
        ("github", "GitHub", GitHubProvider),
        ("bitbucket", "Bitbucket", BitbucketProvider),
    ):
        client_id = getattr(settings, f"{name}_client_id")
        secret = getattr(settings, f"{name}_client_secret")
        if client_id and secret:
            providers[name] = kind(
                name,
                display,
                authorize_url=getattr(settings, f"{name}_authorize_url"),
                token_url=getattr(settings, f"{name}_token_url"),
                api_url=getattr(settings, f"{name}_api_url"),
                client_id=client_id,
                client_secret=secret.get_secret_value(),
            )
    if settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret:
        providers["oidc"] = OIDCProvider(
            "oidc",
            settings.oidc_display_name,
            settings.oidc_issuer,
            settings.oidc_client_id,
            settings.oidc_client_secret.get_secret_value(),
        )
    return providers


def build_context(settings: Settings, prepared: PreparedDatabase) -> AppContext:
    """Everything a server process holds, built once at start: what a worker holds (with the
    operator's secrets masked in our logs, R3), then what only the API needs."""
    providers = identity_providers(settings)
    base = WorkerContext.build(settings, prepared)
    database = base.database
    return AppContext(
        settings=settings,
        database=database,
        keyring=base.keyring,
        signer=TokenSigner(load_signing_key(settings), settings),
        events=Signals.for_api(database.app_engine.url),
        rate_limits=RateLimits(settings, database),
        providers=providers,
        payments=payment_providers.configured(settings),
        safety=moderation.Screen(provider=moderation.configured(settings)),
    )


def create_app(context: AppContext, *, with_worker: bool = False) -> FastAPI:
    """The ASGI application; `with_worker` also runs a job worker in this process."""
    settings = context.settings
    from offcoder.previews.edge import PreviewEdge, PreviewHosts

    # Previews are served by this process too, at hosts under the preview domain (C7).
    def user_of_token(token: str) -> uuid.UUID | None:
        try:
            return context.signer.verify(token).user_id
        except InvalidAccessToken:
            return None

    edge = PreviewEdge(settings, context.database, verify=user_of_token)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if not with_worker:
            try:
                yield
            finally:
                await edge.close()
                await context.events.close()
            return
        from offcoder.worker.host import WorkerHost

        # The worker gets the database and the keyring of this process, nothing else of it.
        host = WorkerHost(WorkerContext(settings, context.database, context.keyring))
        stop = asyncio.Event()
        task = asyncio.create_task(host.run(stop))
        try:
            yield
        finally:
            stop.set()
            await task
            await edge.close()
            await context.events.close()

    app = FastAPI(
        lifespan=lifespan,
        title="OffCoder API",
        version=__version__,
        description=(
            "Projects, secrets, sandboxed jobs and AI help for people who code from their phone."
        ),
        # Our own /docs and /redoc (web/docs.py): their libraries from our origin, not a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.context = context
    problems.install(app)

    routers = (
        service_router,
        auth_router,
        me_router,
        privacy_router,
        consent_router,
        projects_router,
        jobs_router,
        dependencies_router,
        ai_router,
        wallet_router,
        payments_router,
        webhooks_router,
        admin_router,
        payments_admin_router,
        ai_admin_router,
        jobs_admin_router,
        incidents_admin_router,
        link_router,
        previews_router,
        previews_console_router,
    )
    for router in routers:
        app.include_router(router)
    docs = DocsPages.render(app.title, app.openapi_url or "/openapi.json")
    app.include_router(docs.router())

    from offcoder.console.disclosure import router as disclosure_router
    from offcoder.console.endpoints import install as install_console

    install_console(app)  # after problems.install: its error pages wrap the API's handler
    app.include_router(disclosure_router)
    from offcoder.incidents.public import router as subprocessors_page_router

    app.include_router(subprocessors_page_router)

    def body_limit(path: str, method: str) -> int:
        if method == "PUT" and FILE_PATH.match(path):
            return settings.max_file_bytes
        return settings.max_json_body_bytes

    # Live logs (D2): Socket.IO in the same app, so one process serves both.
    from offcoder.realtime.live import LiveLogs

    live = LiveLogs(context)
    app.state.live = live
    app.mount("/socket.io", live.asgi())

    # Outermost last. The headers wrap the origin redirect: redirects get the route's headers.
    policies = HeaderPolicies(
        preview_domain=settings.preview_domain,
        page=page_headers(settings),
        docs=docs_headers(settings, docs.inline_scripts, docs.inline_styles),
        api=api_headers(),
    )
    app.add_middleware(BodyLimitMiddleware, limit_for=body_limit)
    app.add_middleware(PublicOriginMiddleware, settings=settings)
    # T2, T3: HSTS over HTTPS, and in production plain HTTP refused (API) or redirected
    # (website); the scheme and client they read are judged outermost (`install_forwarded`).
    transport.install(app, settings)
    app.add_middleware(SecurityHeadersMiddleware, policy_for=policies.for_scope)
    app.add_middleware(RequestIdMiddleware)
    # Outermost: a preview host's requests go to the edge before any of the app's middleware
    # (its headers are the job's own, C7).
    app.add_middleware(PreviewHosts, edge=edge)
    # Outside even that: the scheme and the client's address are what trusted proxies say,
    # for the API and the previews alike (T3).
    transport.install_forwarded(app, settings)
    return app
