"""Which host a request came to: the public URL's, a preview host, or another name of the server.

A browser keeps cookies per origin. Sign-in in the console sets a cookie on the origin where it
starts, and the provider sends the browser back to the public URL's origin: started on
`localhost:8000` and finished on `127.0.0.1:8000`, the callback finds no cookie and the sign-in
fails. So in development the console and sign-in starts opened on any other host are sent to
the same path on the public URL first (issue 16 item 8).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from fastapi.responses import RedirectResponse

from offcoder.config import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}
# Where a browser's session on this server begins: the root (which is the console), the
# console (its sign-in start included) and the admin pages. Not the broker's
# /v1/auth/{provider}/authorize: its flow holds no cookie (the client keeps state and verifier),
# so it works on any host, and `offcoder login` / `dev token` may name any.
BROWSER_ENTRY = re.compile(r"^/$|^/(console|admin)(/|$)")


def request_host(scope: Scope) -> str | None:
    """The Host header, lower case, without its port when that is the scheme's default."""
    for name, value in scope.get("headers") or []:
        if name == b"host":
            host: str = value.decode("latin-1").strip().lower()
            default = DEFAULT_PORTS.get(scope.get("scheme", "http"), "")
            return host.removesuffix(f":{default}") if default else host
    return None


def public_host(public_url: str) -> str:
    parts = urlsplit(public_url)
    host = parts.netloc.lower()
    return host.removesuffix(f":{DEFAULT_PORTS.get(parts.scheme, '')}")


def is_preview_host(scope: Scope, preview_domain: str) -> bool:
    """Whether the request is for a host under the preview domain (the user's content)."""
    host = request_host(scope)
    if host is None:
        return False
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name.endswith("." + preview_domain.lower().strip("."))


class PublicOriginMiddleware:
    """In development, sends a browser's GET of the console (sign-in starts included) on another
    host to the same path and query on the public URL (307).

    Not in production: a proxy that rewrote Host would loop the browser forever, and there the
    proxy serves one name (deploy/Caddyfile passes Host through). Preview hosts belong to the
    preview edge, and the API answers on any host: a token is not bound to an origin.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        parts = urlsplit(settings.public_url)
        self.public_origin = f"{parts.scheme}://{parts.netloc}"
        self.public_host = public_host(settings.public_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or self.settings.is_production
            or scope["method"] not in ("GET", "HEAD")
            or not BROWSER_ENTRY.match(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        host = request_host(scope)
        if (
            host is None
            or host == self.public_host
            or is_preview_host(scope, self.settings.preview_domain)
        ):
            await self.app(scope, receive, send)
            return
        # The path as the client sent it (raw_path keeps its escapes); only our origin before it.
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        target = self.public_origin + path + (f"?{query}" if query else "")
        await RedirectResponse(target, status_code=307)(scope, receive, send)
