"""The preview edge (C7): serves a running preview job's port at its project's host name,
`<label>.<preview domain>`, to its owner, for HTTP and WebSocket, streaming both ways.

It runs inside `offcoder serve` (requests whose Host is under the preview domain never reach the
API or the console, `PreviewHosts`) and alone as `offcoder edge`. Per request:

1. the Host's first label names a project (`labels.project_of_label`), else "no preview here";
2. ``/.offcoder/enter?ticket=`` spends a ticket the console minted (`passes.spend_ticket`), sets
   the preview session cookie (host-only, HttpOnly, SameSite=Lax, Secure and ``__Host-`` on
   HTTPS) and redirects to the same path without the ticket;
3. any other request needs that cookie, checked now against the project's owner
   (`passes.admit`); without it a browser is sent to the console to get a ticket;
4. the project's running preview job's first published port (bound to 127.0.0.1 on this host)
   gets the request, with the Host the browser used (so dev servers that check it, like Vite's,
   accept it), the `X-Forwarded-*` headers of this hop only, and none of OffCoder's cookies.

Responses are the job's, untouched: no header of ours is added to them (the user owns that
content). The edge's own pages (`pages.py`) say what is wrong in a sentence.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
import structlog
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from offcoder.config import Settings
from offcoder.db.engine import Database
from offcoder.jobs.models import Job, JobStatus
from offcoder.previews import pages
from offcoder.previews.labels import label_of_host, project_of_label
from offcoder.previews.passes import (
    Admitted,
    Refusal,
    ShareLevel,
    admit,
    follow_link,
    share_level,
    spend_ticket,
)
from offcoder.runtime.policy import NetworkMode

log = structlog.get_logger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ENTER_PATH = "/.offcoder/enter"
LINK_PATH = "/.offcoder/link"
CONTINUE_PATH = "/.offcoder/continue"
COOKIE = "oc_preview"
# Set once a visitor has read that a public preview is the job's content, not OffCoder's; not a
# credential (anyone may set it), and stripped before forwarding like every cookie of ours.
ACK_COOKIE = "oc_preview_seen"
# API clients (scripts, the CLI) cannot follow the browser's ticket exchange: they send one of
# their OffCoder access tokens in this header instead; it never reaches the job.
TOKEN_HEADER = b"x-offcoder-preview-token"
# The user an access token names, or None when it is not a valid one of ours.
TokenVerifier = Callable[[str], uuid.UUID | None]
SESSION_MAX_AGE_S = 12 * 3600
# Hop-by-hop headers (RFC 9110 7.6.1) end at each hop; the client's own X-Forwarded-* and
# Forwarded are dropped and ours put in their place.
_HOP = {
    b"connection",
    b"keep-alive",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"te",
    b"trailer",
    b"trailers",
    b"transfer-encoding",
    b"upgrade",
}
_FORWARDING = {b"forwarded", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"}


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


def _cookie_names(secure: bool) -> tuple[str, ...]:
    return (f"__Host-{COOKIE}",) if secure else (COOKIE,)


def _our_cookie(scope: Scope, secure: bool) -> str | None:
    names = _cookie_names(secure)
    for part in _header(scope, b"cookie").split(";"):
        name, _, value = part.strip().partition("=")
        if name in names and value:
            return value
    return None


def _without_our_cookies(value: bytes) -> bytes:
    """The Cookie header minus every cookie of ours (the preview session, and any `oc_` one a
    browser might hold for this host): the job never sees a credential of OffCoder's."""
    kept = [
        part.strip()
        for part in value.decode("latin-1").split(";")
        if part.strip()
        and not part.strip().split("=", 1)[0].removeprefix("__Host-").startswith("oc_")
    ]
    return "; ".join(kept).encode("latin-1")


def _safe_next(target: str) -> str:
    """A path on the same host to go on to, never another site (`//evil`, `/\\evil`)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@dataclass(frozen=True)
class _Serving:
    ports: list[int]  # the job's ports; the first is the one served
    host_port: int  # where its first port is published on this host (127.0.0.1)


def _has_cookie(scope: Scope, name: str) -> bool:
    return any(
        part.strip().partition("=")[0] == name for part in _header(scope, b"cookie").split(";")
    )


def _continue_url(path: str, query: str) -> str:
    return f"{CONTINUE_PATH}?{urlencode({'next': path + (f'?{query}' if query else '')})}"


async def preview_job(database: Database, project_id: uuid.UUID) -> Job | None:
    """The project's newest preview job that has not ended (its first port is the served one)."""
    async with database.system_session() as system:
        return await system.scalar(
            select(Job)
            .where(
                Job.project_id == project_id,
                Job.network == NetworkMode.preview,
                Job.status.in_([JobStatus.queued, JobStatus.starting, JobStatus.running]),
            )
            .order_by(Job.created_at.desc())
            .limit(1)
        )


class PreviewEdge:
    """The edge as an ASGI app (for scopes whose Host is under the preview domain)."""

    def __init__(
        self, settings: Settings, database: Database, verify: TokenVerifier | None = None
    ) -> None:
        self.settings = settings
        self.database = database
        self.verify = verify
        self.open: Counter[uuid.UUID] = Counter()
        # trust_env off: an environment's proxy variables must not take our traffic elsewhere.
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(connect=5.0, read=None, write=60.0, pool=10.0),
            follow_redirects=False,
            trust_env=False,
        )

    async def close(self) -> None:
        await self._client.aclose()

    # ------------------------------------------------------------------ entry
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return
        host = _header(scope, b"host")
        label = label_of_host(self.settings, host)
        secure = scope.get("scheme") in ("https", "wss")
        async with self.database.system_session() as system:
            project = await project_of_label(system, label) if label else None
        if project is None:
            await self._refuse(scope, receive, send, pages.unknown())
            return
        path = scope.get("path", "/")
        query = bytes(scope.get("query_string") or b"").decode("latin-1")
        port = await self._port(project.id)
        level = (
            await share_level(self.database, project.id, min(port.ports))
            if isinstance(port, _Serving)
            else ShareLevel.owner
        )
        if scope["type"] == "http" and path in (ENTER_PATH, LINK_PATH, CONTINUE_PATH):
            await self._own_path(scope, send, project.id, path, query, secure, level)
            return
        if level is ShareLevel.public:
            if not _has_cookie(scope, ACK_COOKIE) and scope["type"] == "http":
                await self._page(send, pages.user_content(_continue_url(path, query)))
                return
        else:
            token = _our_cookie(scope, secure)
            bearer = _header(scope, TOKEN_HEADER)
            verdict: Admitted | Refusal
            if bearer:
                verdict = self._by_token(bearer, project.user_id, project.id, level)
            elif token:
                verdict = await admit(self.database, token, project.id, level)
            else:
                verdict = Refusal.expired
            if not isinstance(verdict, Admitted):
                if verdict is Refusal.expired and scope["type"] == "http":
                    # No session yet, or an old one: a ticket from the console.
                    await self._redirect(send, self._ticket_url(host, path, query))
                else:
                    await self._refuse(scope, receive, send, pages.forbidden(self._console()))
                return
        if not isinstance(port, _Serving):
            await self._refuse(scope, receive, send, port)
            return
        if self.open[project.id] >= self.settings.preview_max_connections:
            await self._refuse(scope, receive, send, pages.busy())
            return
        self.open[project.id] += 1
        try:
            if scope["type"] == "http":
                await self._forward_http(scope, receive, send, host, port.host_port)
            else:
                await self._forward_websocket(scope, receive, send, host, port.host_port)
        finally:
            self.open[project.id] -= 1
            if not self.open[project.id]:
                del self.open[project.id]

    # ------------------------------------------------------------------ answers of our own
    async def _page(self, send: Send, page: pages.Page) -> None:
        await _start_and_body(send, page.status, page.headers(), page.render())

    async def _redirect(
        self, send: Send, location: str, extra: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        headers = [(b"location", location.encode()), (b"cache-control", b"no-store")]
        await _start_and_body(send, 303, headers + (extra or []), b"")

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, page: pages.Page) -> None:
        if scope["type"] == "http":
            await self._page(send, page)
            return
        # A WebSocket closed before it is accepted is answered 403 by the server.
        if (await receive())["type"] == "websocket.connect":
            await send({"type": "websocket.close", "code": 1008})

    # ------------------------------------------------------------------ passes
    def _by_token(
        self, bearer: str, owner: uuid.UUID, project_id: uuid.UUID, level: ShareLevel
    ) -> Admitted | Refusal:
        user = self.verify(bearer.removeprefix("Bearer ").strip()) if self.verify else None
        if user is None or (level is ShareLevel.owner and user != owner):
            return Refusal.forbidden
        return Admitted(user_id=user, project_id=project_id)

    def _console(self) -> str:
        return self.settings.public_url.rstrip("/") + "/console"

    def _ticket_url(self, host: str, path: str, query: str) -> str:
        target = path + (f"?{query}" if query else "")
        params = urlencode({"host": host, "next": target})
        return f"{self.settings.public_url.rstrip('/')}/console/previews/enter?{params}"

    async def _own_path(
        self,
        scope: Scope,
        send: Send,
        project_id: uuid.UUID,
        path: str,
        query: str,
        secure: bool,
        level: ShareLevel,
    ) -> None:
        """The edge's own paths: a ticket from the console, a share link, and the public
        preview's "continue" past the user-content page."""
        params = parse_qs(query)
        target = _safe_next((params.get("next") or ["/"])[0])
        if path == CONTINUE_PATH:
            ack = f"{ACK_COOKIE}=1; Path=/; Max-Age={SESSION_MAX_AGE_S}; SameSite=Lax" + (
                "; Secure" if secure else ""
            )
            await self._redirect(send, target, [(b"set-cookie", ack.encode())])
            return
        if path == ENTER_PATH:
            ticket = (params.get("ticket") or [""])[0]
            outcome = await spend_ticket(self.database, ticket, project_id, level)
        else:
            link = (params.get("token") or [""])[0]
            outcome = await follow_link(self.database, link, project_id)
        if outcome is Refusal.forbidden:
            await self._page(send, pages.forbidden(self._console()))
            return
        if outcome is Refusal.expired:
            host = _header(scope, b"host")
            again = self._ticket_url(host, target, "") if path == ENTER_PATH else None
            await self._page(send, pages.expired(again))
            return
        name = _cookie_names(secure)[0]
        cookie = (
            f"{name}={outcome}; Path=/; Max-Age={SESSION_MAX_AGE_S}; HttpOnly; SameSite=Lax"
            + ("; Secure" if secure else "")
        )
        await self._redirect(send, target, [(b"set-cookie", cookie.encode())])

    # ------------------------------------------------------------------ the job's port
    async def _port(self, project_id: uuid.UUID) -> _Serving | pages.Page:
        """The project's running preview job's ports and the host port of its first, or the
        page that says why there is none."""
        job = await preview_job(self.database, project_id)
        if job is None:
            return pages.not_running(self._console())
        if job.status is not JobStatus.running or not job.published_ports:
            return pages.starting()
        published = job.published_ports.get(str(min(job.ports)))
        return _Serving(list(job.ports), int(published)) if published else pages.starting()

    # ------------------------------------------------------------------ HTTP
    def _upstream_headers(self, scope: Scope, host: str) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = []
        for name, value in scope.get("headers") or []:
            key = bytes(name).lower()
            if (
                key in _HOP
                or key in _FORWARDING
                or key in (b"host", TOKEN_HEADER)
                or key.startswith(b"sec-websocket")
            ):
                continue
            if key == b"cookie":
                value = _without_our_cookies(bytes(value))
                if not value:
                    continue
            out.append((key, bytes(value)))
        client = scope.get("client") or ("", 0)
        proto = "https" if scope.get("scheme") in ("https", "wss") else "http"
        out += [
            (b"host", host.encode("latin-1")),
            (b"x-forwarded-for", str(client[0]).encode()),
            (b"x-forwarded-proto", proto.encode()),
            (b"x-forwarded-host", host.encode("latin-1")),
        ]
        return out

    async def _forward_http(
        self, scope: Scope, receive: Receive, send: Send, host: str, port: int
    ) -> None:
        async def body() -> AsyncIterator[bytes]:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                yield bytes(message.get("body", b""))
                if not message.get("more_body"):
                    return

        target = bytes(scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        query = bytes(scope.get("query_string") or b"").decode("latin-1")
        url = f"http://127.0.0.1:{port}{target}" + (f"?{query}" if query else "")
        method = scope["method"]
        request = self._client.build_request(
            method,
            url,
            headers=self._upstream_headers(scope, host),
            content=body() if method not in ("GET", "HEAD") else None,
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.ConnectError:
            await self._page(send, pages.port_not_open(port))
            return
        except httpx.HTTPError as exc:
            log.info("preview upstream failed", port=port, error=str(exc))
            await self._page(send, pages.port_not_open(port))
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [(k, v) for k, v in response.headers.raw if k.lower() not in _HOP],
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()

    # ------------------------------------------------------------------ WebSocket
    async def _forward_websocket(
        self, scope: Scope, receive: Receive, send: Send, host: str, port: int
    ) -> None:
        first = await receive()
        if first["type"] != "websocket.connect":
            return
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in self._upstream_headers(scope, host)
            if k != b"host"
        ]
        target = bytes(scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        query = bytes(scope.get("query_string") or b"").decode("latin-1")
        # The URI names the preview host (the job sees the Host the browser used); the
        # connection goes to the job's published port on this host.
        uri = f"ws://{host}{target}" + (f"?{query}" if query else "")
        try:
            upstream = await connect(
                uri,
                host="127.0.0.1",
                port=port,
                additional_headers=headers,
                subprotocols=scope.get("subprotocols") or None,
                open_timeout=10,
                max_size=None,
                compression=None,
                proxy=None,
            )
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            status = exc.response.status_code if isinstance(exc, InvalidStatus) else None
            log.info("preview websocket upstream failed", port=port, status=status)
            await send({"type": "websocket.close", "code": 1011})
            return
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
        await _pump(receive, send, upstream)


async def _pump(receive: Receive, send: Send, upstream: ClientConnection) -> None:
    async def browser_to_job() -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                await upstream.close()
                return
            if message.get("bytes") is not None:
                await upstream.send(message["bytes"])
            elif message.get("text") is not None:
                await upstream.send(message["text"])

    async def job_to_browser() -> None:
        try:
            async for data in upstream:
                if isinstance(data, bytes):
                    await send({"type": "websocket.send", "bytes": data})
                else:
                    await send({"type": "websocket.send", "text": data})
        except ConnectionClosed:
            pass
        code = upstream.close_code or 1000
        with contextlib.suppress(Exception):
            await send({"type": "websocket.close", "code": code if code != 1006 else 1011})

    tasks = [asyncio.create_task(browser_to_job()), asyncio.create_task(job_to_browser())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await upstream.close()


class PreviewHosts:
    """Sends requests whose Host is under the preview domain to the edge, all others to the
    app: a preview host never reaches the API, the console or their headers and cookies."""

    def __init__(self, app: ASGIApp, edge: PreviewEdge) -> None:
        self.app = app
        self.edge = edge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] in ("http", "websocket")
            and label_of_host(self.edge.settings, _header(scope, b"host")) is not None
        ):
            await self.edge(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def not_a_preview_host(scope: Scope, receive: Receive, send: Send) -> None:
    """What `offcoder edge` answers for a Host outside the preview domain."""
    if scope["type"] == "http":
        page = pages.unknown()
        await _start_and_body(send, page.status, page.headers(), page.render())
    elif scope["type"] == "websocket" and (await receive())["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": 1008})


async def _start_and_body(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
