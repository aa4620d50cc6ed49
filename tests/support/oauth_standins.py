"""Local stand-ins for GitHub's and Bitbucket's OAuth 2.0 servers and user APIs, on loopback.

They speak the providers' protocol as our client sees it: the authorization endpoint (which here
"signs in" the account named by an extra `as` parameter, the test's stand-in for a person),
the token endpoint (client secret, one-time code, redirect URI and the PKCE S256 verifier all
checked), and the user and e-mail APIs with their real JSON shapes, behind the bearer token.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "standin-client"
# The named providers that speak OpenID Connect (their stand-in is the local OIDC provider).
OIDC_NAMED = ("google", "gitlab", "linkedin")
CLIENT_SECRET = "standin-secret"


@dataclass
class StandIn:
    """One provider's server: its accounts (by the name tests sign in as) and what it issued."""

    flavour: str  # "github" or "bitbucket"
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    base_url: str = ""

    @property
    def settings(self) -> dict[str, Any]:
        prefix = self.flavour
        if self.flavour == "github":
            paths = ("/login/oauth/authorize", "/login/oauth/access_token", "")
        else:
            paths = ("/site/oauth2/authorize", "/site/oauth2/access_token", "/2.0")
        return {
            f"{prefix}_client_id": CLIENT_ID,
            f"{prefix}_client_secret": SecretStr(CLIENT_SECRET),
            f"{prefix}_authorize_url": self.base_url + paths[0],
            f"{prefix}_token_url": self.base_url + paths[1],
            f"{prefix}_api_url": self.base_url + paths[2],
        }

    # -------------------------------------------------------------- endpoints

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
            return PlainTextResponse("bad client or response_type", status_code=400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return PlainTextResponse("PKCE S256 required", status_code=400)
        who = q.get("as", "")
        if who not in self.accounts:
            return PlainTextResponse("sign in as whom? (test: add &as=NAME)", status_code=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "account": who,
            "redirect_uri": q.get("redirect_uri"),
            "challenge": q["code_challenge"],
            "at": time.time(),
        }
        target = f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', '')})}"
        return RedirectResponse(target, status_code=302)

    async def token(self, request: Request) -> Response:
        form = await request.form()
        client_id, secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        if client_id != CLIENT_ID or secret != CLIENT_SECRET:
            return self._answer(request, {"error": "invalid_client"}, 401)
        grant = self.codes.pop(str(form.get("code")), None)
        if grant is None or time.time() - grant["at"] > 600:
            return self._answer(request, {"error": "invalid_grant"}, 400)
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return self._answer(request, {"error": "invalid_grant"}, 400)
        verifier = str(form.get("code_verifier", ""))
        computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if computed.rstrip(b"=").decode() != grant["challenge"]:
            return self._answer(request, {"error": "invalid_grant"}, 400)
        access = secrets.token_urlsafe(24)
        self.tokens[access] = grant["account"]
        return self._answer(
            request, {"access_token": access, "token_type": "bearer", "scope": "read"}, 200
        )

    @staticmethod
    def _answer(request: Request, body: dict[str, str], status: int) -> Response:
        # GitHub answers form-encoded unless asked for JSON.
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse(body, status_code=status)
        return PlainTextResponse(
            urlencode(body), status_code=status, media_type="application/x-www-form-urlencoded"
        )

    def _account(self, request: Request) -> dict[str, Any] | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return None
        name = self.tokens.get(token)
        return self.accounts.get(name) if name else None

    async def user(self, request: Request) -> Response:
        account = self._account(request)
        if account is None:
            return JSONResponse({"message": "Requires authentication"}, status_code=401)
        return JSONResponse(account["user"])

    async def emails(self, request: Request) -> Response:
        account = self._account(request)
        if account is None:
            return JSONResponse({"message": "Requires authentication"}, status_code=401)
        if self.flavour == "github":
            return JSONResponse(account["emails"])
        return JSONResponse({"values": account["emails"], "pagelen": 10, "page": 1})

    def app(self) -> Starlette:
        if self.flavour == "github":
            routes = [
                Route("/login/oauth/authorize", self.authorize),
                Route("/login/oauth/access_token", self.token, methods=["POST"]),
                Route("/user", self.user),
                Route("/user/emails", self.emails),
            ]
        else:
            routes = [
                Route("/site/oauth2/authorize", self.authorize),
                Route("/site/oauth2/access_token", self.token, methods=["POST"]),
                Route("/2.0/user", self.user),
                Route("/2.0/user/emails", self.emails),
            ]
        return Starlette(routes=routes)


def github_account(number: int, login: str, email: str, verified: bool) -> dict[str, Any]:
    return {
        "user": {"id": number, "login": login, "name": login.title()},
        "emails": [
            {"email": f"other-{login}@example.test", "primary": False, "verified": True},
            {"email": email, "primary": True, "verified": verified, "visibility": "private"},
        ],
    }


def bitbucket_account(uuid_text: str, name: str, email: str, confirmed: bool) -> dict[str, Any]:
    return {
        "user": {"uuid": "{" + uuid_text + "}", "username": name, "display_name": name.title()},
        "emails": [
            {"email": email, "is_primary": True, "is_confirmed": confirmed, "type": "email"}
        ],
    }


@contextmanager
def running_app(app: Any) -> Iterator[str]:
    """Serve an ASGI app on a free loopback port in a thread of its own; yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("stand-in did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def running(stand_in: StandIn) -> Iterator[StandIn]:
    """Serve `stand_in` on a free loopback port in a thread of its own."""
    with running_app(stand_in.app()) as base_url:
        stand_in.base_url = base_url
        yield stand_in
