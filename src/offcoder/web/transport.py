"""Transport security in the app (T2, T3, decision 0023): which scheme a request came over and
from whom, believed from forwarded headers only when a configured proxy sends them; HSTS on
every HTTPS response; in production, the API refused and the website redirected over plain HTTP.

These are three small ASGI middlewares, installed together by `install` in the order they
depend on each other, apart from `web/middleware.py`'s headers that every response gets.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import RedirectResponse

from offcoder.config import Settings
from offcoder.problems import Problem, problem_response
from offcoder.web.middleware import ASGIApp, Message, Receive, Scope, Send

# Two years, subdomains included, and the consent hstspreload.org asks for (T2). The preload
# list itself is the operator's submission for the registrable domain: see docs/security.md.
HSTS = b"max-age=63072000; includeSubDomains; preload"

# Pages a browser opens by typing an address: over plain HTTP they are redirected. Everything
# else is the API (programs, which should fail loudly rather than follow a redirect).
WEBSITE_PREFIXES = ("/console",)
WEBSITE_PAGES = frozenset({"/", "/docs", "/docs/oauth2-redirect", "/redoc"})
# Liveness and readiness: probed by orchestrators and by the proxy's health checks straight at
# the process, with no credential and no user data in either direction, so they answer over
# plain HTTP in production too (and never carry HSTS there).
PROBES = frozenset({"/healthz", "/readyz"})

Address = IPv4Address | IPv6Address


class TrustedProxies:
    """The addresses whose forwarded headers are believed: OFFCODER_TRUSTED_PROXIES."""

    def __init__(self, networks: Iterable[IPv4Network | IPv6Network]) -> None:
        self.networks = tuple(networks)

    def __contains__(self, address: object) -> bool:
        parsed = _address(address) if isinstance(address, str) else None
        return parsed is not None and any(parsed in network for network in self.networks)

    def __bool__(self) -> bool:
        return bool(self.networks)


def _address(text: str) -> Address | None:
    try:
        parsed = ip_address(text)
    except ValueError:
        return None
    # A dual-stack socket shows an IPv4 peer as ::ffff:a.b.c.d; the operator wrote a.b.c.d.
    if isinstance(parsed, IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


def _node(text: str) -> str | None:
    """The address in a forwarded node: `192.0.2.1`, `"[2001:db8::1]:4711"`, `10.0.0.1:80`;
    None for what is not one (`unknown`, an obfuscated `_name`)."""
    node = text.strip().strip('"')
    if node.startswith("["):
        node = node[1 : node.find("]")]
    elif node.count(":") == 1:
        node = node.partition(":")[0]
    parsed = _address(node)
    return str(parsed) if parsed is not None else None


def _forwarded_elements(header: str) -> list[dict[str, str]]:
    """RFC 7239's `Forwarded`: elements by comma, pairs by semicolon, quoted strings kept whole."""
    elements: list[dict[str, str]] = []
    pairs: dict[str, str] = {}
    token, quoted, escaped = "", False, False
    for char in header + ",":
        if escaped:
            token, escaped = token + char, False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
            token += char
        elif not quoted and char in ";,":
            name, equals, value = token.partition("=")
            if equals:
                pairs[name.strip().lower()] = value.strip()
            token = ""
            if char == ",":
                elements.append(pairs)
                pairs = {}
        else:
            token += char
    return elements


def _headers(scope: Scope, name: bytes) -> str | None:
    """Every value of one header, joined as one list (a header may be sent several times)."""
    values = [value.decode("latin-1") for key, value in scope.get("headers") or [] if key == name]
    return ",".join(values) if values else None


class ForwardedHeadersMiddleware:
    """Believes `X-Forwarded-Proto`, `Forwarded` and `X-Forwarded-For` from a trusted peer only.

    From anyone else they are ignored, whatever they say: a client on the internet, or any
    process on this machine when the trusted list is empty (the default). From a trusted proxy:

    - the scheme is the nearest claim (the last item: a proxy appends to what it received)
      of `X-Forwarded-Proto` and of `Forwarded`'s `proto`; when both are present they must
      both say https, because a proxy that writes one header may pass a client's forgery of
      the other along untouched (Caddy writes X-Forwarded-Proto and leaves `Forwarded` alone);
    - the client is the rightmost address of `X-Forwarded-For` (else of `Forwarded`'s `for`)
      that is not itself a trusted proxy: everything left of it was written by the client.
    """

    def __init__(self, app: ASGIApp, trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client")
        if scope["type"] in ("http", "websocket") and peer and peer[0] in self.trusted:
            self._believe(scope)
        await self.app(scope, receive, send)

    def _believe(self, scope: Scope) -> None:
        forwarded = _headers(scope, b"forwarded")
        elements = _forwarded_elements(forwarded) if forwarded else []
        claims: list[str] = []
        x_proto = _headers(scope, b"x-forwarded-proto")
        if x_proto is not None:
            claims.append(x_proto.split(",")[-1].strip().lower())
        if elements and "proto" in elements[-1]:
            claims.append(elements[-1]["proto"].strip('"').lower())
        if claims:
            secure = all(claim == "https" for claim in claims)
            if scope["type"] == "websocket":
                scope["scheme"] = "wss" if secure else "ws"
            else:
                scope["scheme"] = "https" if secure else "http"

        x_for = _headers(scope, b"x-forwarded-for")
        if x_for is not None:
            chain = [item.strip() for item in x_for.split(",")]
        else:
            chain = [element["for"] for element in elements if "for" in element]
        client = self._client(chain)
        if client is not None:
            scope["client"] = (client, 0)

    def _client(self, chain: list[str]) -> str | None:
        nodes = [_node(item) for item in chain]
        for node in reversed(nodes):
            if node is None:
                return None  # what our proxy wrote is not an address: keep the peer's
            if node not in self.trusted:
                return node
        return nodes[0] if nodes else None  # every hop a proxy of ours: the first one


class HttpsRequired(Problem):
    def __init__(self, https_url: str) -> None:
        super().__init__(
            403,
            "https-required",
            f"The API answers only over HTTPS: send this request to {https_url}. Treat any "
            "token it carried as exposed, since it crossed the network unencrypted.",
        )


class HttpsOnlyMiddleware:
    """Production (T3): plain HTTP gets the API's refusal, never an answer or a redirect (a
    redirected client has already sent its token in the clear, and would learn nothing); a
    website page gets a 308 to the same path on the public HTTPS origin (308 keeps the method
    and body of a form). The origin is the configured public URL, never the request's `Host`.
    """

    def __init__(self, app: ASGIApp, public_url: str) -> None:
        self.app = app
        self.public_origin = "https://" + urlsplit(public_url).netloc

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket") or scope["scheme"] in ("https", "wss"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if kind == "websocket":
            # Closing before accepting is answered 403 to the upgrade request: live logs over
            # `ws://` are the API too.
            await send({"type": "websocket.close", "code": 1008, "reason": "https-required"})
            return
        if path in PROBES:
            await self.app(scope, receive, send)
            return
        target = self.public_origin + _target(scope)
        if path in WEBSITE_PAGES or path.startswith(WEBSITE_PREFIXES):
            await RedirectResponse(target, status_code=308)(scope, receive, send)
            return
        await problem_response(HttpsRequired(target))(scope, receive, send)


def _target(scope: Scope) -> str:
    """The request's path and query as the client wrote them (still percent-encoded)."""
    raw: Any = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else scope["path"]
    query: bytes = scope.get("query_string") or b""
    return path + ("?" + query.decode("latin-1") if query else "")


class StrictTransportSecurityMiddleware:
    """HSTS on every response to a request that came over HTTPS (T2), errors included, and on
    nothing else: browsers ignore it over plain HTTP (RFC 6797 §8.1), and a development server
    on plain HTTP must stay reachable."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["scheme"] != "https":
            await self.app(scope, receive, send)
            return

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                if not any(name.lower() == b"strict-transport-security" for name, _ in headers):
                    headers.append((b"strict-transport-security", HSTS))
            await send(message)

        await self.app(scope, receive, send_with_hsts)


def install(app: Any, settings: Settings) -> None:
    """Add HTTPS-only (production) and HSTS to `app`. Forwarded headers are judged outside
    them, by `install_forwarded`, which the caller adds last (Starlette runs the last added
    first), so that they are judged before anything asks for the scheme or the client's
    address: the preview edge too, which is split off before this app's middleware."""
    if settings.is_production:
        app.add_middleware(HttpsOnlyMiddleware, public_url=settings.public_url)
    app.add_middleware(StrictTransportSecurityMiddleware)


def install_forwarded(app: Any, settings: Settings) -> None:
    app.add_middleware(ForwardedHeadersMiddleware, trusted=TrustedProxies(settings.trusted_proxies))
