"""The API docs pages, /docs (Swagger UI) and /redoc (ReDoc), served with their libraries from
our own static files (`make assets` copies them from npm into console/static/vendor): the pages
work offline, and no CDN runs script on our origin.

The pages are FastAPI's own (`get_swagger_ui_html`, `get_redoc_html`), rendered once when the
app is built. Swagger UI's start is an inline script in that page, and ReDoc's page has an inline
style block; rather than 'unsafe-inline', the docs' CSP allows each of those blocks by its hash
(web/headers.docs_headers), computed here from the very HTML we serve, so a FastAPI upgrade that
changes the page changes the hash with it (decision 0024).
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

VENDOR = "/console/static/vendor"
SWAGGER_JS = f"{VENDOR}/swagger-ui-bundle.js"
SWAGGER_CSS = f"{VENDOR}/swagger-ui.css"
REDOC_JS = f"{VENDOR}/redoc.standalone.js"
FAVICON = f"{VENDOR}/favicon-32x32.png"


class _InlineBlocks(HTMLParser):
    """Collects the bodies of a page's inline <script> (no src) and <style> elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._open: list[str] | None = None
        self._parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" and not any(name == "src" for name, _ in attrs):
            self._open, self._parts = self.scripts, []
        elif tag == "style":
            self._open, self._parts = self.styles, []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._parts.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._open is not None and tag in ("script", "style"):
            self._open.append("".join(self._parts))
            self._open = None


@dataclass(frozen=True)
class DocsPages:
    """The two pages' HTML, and the inline blocks their CSP must allow."""

    swagger: str
    redoc: str
    inline_scripts: tuple[str, ...]
    inline_styles: tuple[str, ...]

    @classmethod
    def render(cls, title: str, openapi_url: str) -> DocsPages:
        swagger = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - Swagger UI",
            swagger_js_url=SWAGGER_JS,
            swagger_css_url=SWAGGER_CSS,
            swagger_favicon_url=FAVICON,
        ).body
        redoc = get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=REDOC_JS,
            redoc_favicon_url=FAVICON,
            with_google_fonts=False,
        ).body
        swagger_page, redoc_page = bytes(swagger).decode(), bytes(redoc).decode()
        blocks = _InlineBlocks()
        blocks.feed(swagger_page)
        blocks.feed(redoc_page)
        blocks.close()
        return cls(swagger_page, redoc_page, tuple(blocks.scripts), tuple(blocks.styles))

    def router(self) -> APIRouter:
        router = APIRouter(include_in_schema=False)

        @router.get("/docs", response_class=HTMLResponse)
        async def swagger_ui() -> HTMLResponse:
            return HTMLResponse(self.swagger)

        @router.get("/redoc", response_class=HTMLResponse)
        async def redoc() -> HTMLResponse:
            return HTMLResponse(self.redoc)

        return router
