"""Security headers, chosen by route (issue 16 item 5; decision 0024).

The header values are built by the `secure` library; which set a response gets is ours to say:

- pages (the console, the admin pages, the disclosure page): a CSP without 'unsafe-inline' —
  our own scripts and styles only, no plugins, no <base>, never framed, forms and connections
  (Socket.IO's WebSocket included) to this origin only;
- the API docs pages: the same, plus the hash of each inline script or style block of the page
  FastAPI writes for them (web/docs.py), and nothing else inline;
- everything else (the API's JSON, redirects, security.txt): the strict defaults of an API;
- a preview host: nothing. Its pages are the user's content, served by the preview edge; a
  header of ours would break or restrict them (issue 16 item 1).

HSTS is not set here: the TLS layer adds it to HTTPS responses (T2).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from secure import (
    ContentSecurityPolicy,
    PermissionsPolicy,
    ReferrerPolicy,
    Secure,
    XContentTypeOptions,
    XFrameOptions,
)

from offcoder.config import DISCLOSURE_PATH, Settings
from offcoder.web.origins import is_preview_host

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Browser pages: their paths start with one of these (the admin pages will live under /admin).
# /legal: the published sub-processor list (incidents/public.py).
PAGE_PREFIXES = ("/console", "/admin", DISCLOSURE_PATH, "/legal")
DOCS_PATHS = ("/docs", "/redoc")

# ReDoc's bundle styles itself from script, in two ways CSP sees (decision 0024):
# - styled-components appends empty <style> elements and fills them through the CSSOM
#   (insertRule), which CSP does not govern; the hash of the empty text allows exactly those;
# - one fixed <style> block of perfect-scrollbar's CSS, whose hash is this one for the redoc
#   version in assets/package-lock.json. Upgrading redoc may change it: the Chromium test of
#   /redoc then fails with the violation, and Chromium's message names the new hash.
REDOC_STYLES = (
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",
)

# Every header a policy here may set: what a preview response must never carry from us.
POLICY_HEADERS = frozenset(
    {
        "content-security-policy",
        "x-frame-options",
        "x-content-type-options",
        "referrer-policy",
        "permissions-policy",
        "cache-control",
    }
)


def inline_hash(body: str) -> str:
    """The CSP source that allows exactly this inline <script> or <style> body."""
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    return f"'sha256-{digest}'"


def websocket_origin(public_url: str) -> str:
    """The ws:// or wss:// origin of the public URL: Socket.IO's WebSocket goes there."""
    parts = urlsplit(public_url)
    return f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}"


def _page_csp(settings: Settings) -> ContentSecurityPolicy:
    return (
        ContentSecurityPolicy()
        .default_src("'none'")
        .script_src("'self'")
        .style_src("'self'")
        .img_src("'self'")
        # The web app manifest (the console installs as an app on a phone).
        .manifest_src("'self'")
        # 'self' covers ws: only in newer browsers (CSP 3): the WebSocket origin is named too.
        .connect_src("'self'", websocket_origin(settings.public_url))
        .form_action("'self'")
        .object_src("'none'")
        .base_uri("'none'")
        .frame_ancestors("'none'")
    )


def _browser_headers(csp: ContentSecurityPolicy) -> Secure:
    return Secure(
        csp=csp,
        xfo=XFrameOptions().deny(),
        xcto=XContentTypeOptions().nosniff(),
        # Not no-referrer: with it browsers send `Origin: null` on our own form posts, and the
        # console's CSRF check refuses any Origin that is not ours.
        referrer=ReferrerPolicy().strict_origin_when_cross_origin(),
        permissions=PermissionsPolicy().geolocation().microphone().camera(),
    )


def page_headers(settings: Settings) -> Secure:
    """The console's, the admin pages' and the disclosure page's headers."""
    return _browser_headers(_page_csp(settings))


def admin_dashboard_headers() -> Secure:
    """The admin dashboard's (admin/dashboard): scripts, styles and images from its own origin
    only, no frames, forms posted only to itself, nothing fetched elsewhere."""
    csp = (
        ContentSecurityPolicy()
        .default_src("'none'")
        .script_src("'self'")
        .style_src("'self'")
        .img_src("'self'")
        .connect_src("'self'")
        .form_action("'self'")
        .object_src("'none'")
        .base_uri("'none'")
        .frame_ancestors("'none'")
    )
    return _browser_headers(csp)


def docs_headers(
    settings: Settings, inline_scripts: Iterable[str], inline_styles: Iterable[str]
) -> Secure:
    """The API docs pages: the pages' policy, plus each of their inline blocks by hash."""
    scripts = sorted({inline_hash(body) for body in inline_scripts})
    styles = sorted({inline_hash(body) for body in inline_styles})
    csp = (
        _page_csp(settings)
        .script_src("'self'", *scripts)
        .style_src("'self'", *styles, *REDOC_STYLES)
        # Swagger UI's and ReDoc's stylesheets draw their icons as data: images.
        .img_src("'self'", "data:")
        # ReDoc runs its search index in a worker made from a blob: URL.
        .worker_src("blob:")
    )
    return _browser_headers(csp)


def api_headers() -> Secure:
    """JSON, redirects, text: nothing in them may run, load, or be framed."""
    return Secure(
        csp=ContentSecurityPolicy().default_src("'none'").frame_ancestors("'none'"),
        xfo=XFrameOptions().deny(),
        xcto=XContentTypeOptions().nosniff(),
        referrer=ReferrerPolicy().no_referrer(),
    )


@dataclass(frozen=True)
class HeaderPolicies:
    """Which headers each route gets; `for_scope` is the one place that chooses."""

    preview_domain: str
    page: Secure
    docs: Secure
    api: Secure

    def for_scope(self, scope: Scope) -> Secure | None:
        """The headers for this request's response; None for a preview host's."""
        if is_preview_host(scope, self.preview_domain):
            return None
        path: str = scope["path"]
        if path in DOCS_PATHS:
            return self.docs
        if any(path == prefix or path.startswith(prefix + "/") for prefix in PAGE_PREFIXES):
            return self.page
        return self.api


class SecurityHeadersMiddleware:
    """Adds the headers `policy_for(scope)` chooses to every HTTP response.

    The policy's headers replace any the route set, so no route weakens them by accident;
    Cache-Control is the exception: `no-store` unless the route chose its own (the JWKS is
    cacheable). A None policy adds nothing.
    """

    def __init__(self, app: ASGIApp, policy_for: Callable[[Scope], Secure | None]) -> None:
        self.app = app
        self.policy_for = policy_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.policy_for(scope)
        if policy is None:
            await self.app(scope, receive, send)
            return
        chosen = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in policy.header_items()
        ]
        replaced = {name for name, _ in chosen}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() not in replaced
                ]
                if not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers + chosen
            await send(message)

        await self.app(scope, receive, send_with_headers)
