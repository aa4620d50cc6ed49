"""The admin dashboard as its own ASGI app (decision 0036): served by `offcoder serve` on
`admin_host:admin port` (loopback unless the operator names an internal address), never on the
public address. No OpenAPI and no docs routes; every page under the strict CSP of
`web/headers.admin_dashboard_headers`, with X-Frame-Options DENY."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from offcoder.admin.dashboard import access
from offcoder.admin.dashboard.endpoints import HERE, router, templates
from offcoder.context import AppContext
from offcoder.web.headers import SecurityHeadersMiddleware, admin_dashboard_headers
from offcoder.web.middleware import RequestIdMiddleware


def create_admin_app(context: AppContext) -> FastAPI:
    app = FastAPI(
        title="OffCoder admin",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.context = context
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def plain(request: Request, status: int, sentence: str) -> Response:
        return templates.TemplateResponse(
            request,
            "refused.html",
            {"sentence": sentence, "admin": None, "csrf": "", "csrf_field": "csrf"},
            status_code=status,
        )

    @app.exception_handler(access.SignInNeeded)
    async def sign_in_needed(request: Request, _: Exception) -> Response:
        return RedirectResponse("/signin", status_code=303)

    @app.exception_handler(access.FactorNeeded)
    async def factor_needed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, access.FactorNeeded)
        back = request.url.path if request.method == "GET" else "/"
        query = f"?next={back}" + ("&step_up=true" if exc.step_up else "")
        return RedirectResponse("/factor" + query, status_code=303)

    @app.exception_handler(access.NotAllowed)
    async def not_allowed(request: Request, _: Exception) -> Response:
        return plain(request, 403, "This page needs an admin role you do not hold.")

    @app.exception_handler(access.CsrfRefused)
    async def csrf_refused(request: Request, _: Exception) -> Response:
        return plain(request, 403, "The form is stale or did not come from this site; reload it.")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        sentence = "There is no such page." if exc.status_code == 404 else "That was refused."
        return plain(request, exc.status_code, sentence)

    @app.exception_handler(422)
    async def invalid(request: Request, _: Exception) -> Response:
        return plain(request, 400, "The form or address was not understood; go back and retry.")

    headers = admin_dashboard_headers()
    app.add_middleware(SecurityHeadersMiddleware, policy_for=lambda scope: headers)
    app.add_middleware(RequestIdMiddleware)
    return app


__all__ = ["create_admin_app"]
