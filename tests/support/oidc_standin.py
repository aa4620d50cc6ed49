"""A minimal OpenID Connect provider on loopback whose ID tokens a test can spoil on purpose
(bad signature, expired, another audience or issuer, `alg: none`, HS256 keyed with the public
key, a wrong nonce), to prove the client refuses each."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.support.oauth_standins import running_app

MODES = (
    "good",
    "tampered",
    "expired",
    "wrong_audience",
    "wrong_issuer",
    "alg_none",
    "hs256_with_public_key",
    "wrong_nonce",
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class OIDCStandIn:
    client_id: str = "standin-oidc"
    mode: str = "good"
    base_url: str = ""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def discovery(self, _: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.base_url,
                "authorization_endpoint": self.base_url + "/authorize",
                "token_endpoint": self.base_url + "/token",
                "jwks_uri": self.base_url + "/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def jwks(self, _: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"nonce": q.get("nonce"), "sub": q.get("as", "someone")}
        return RedirectResponse(
            f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}", 302
        )

    async def token(self, request: Request) -> Response:
        form = await request.form()
        grant = self.codes.pop(str(form.get("code")), None)
        if grant is None:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return JSONResponse(
            {"access_token": "at", "token_type": "Bearer", "id_token": self.id_token(grant)}
        )

    def id_token(self, grant: dict[str, Any]) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.base_url,
            "aud": self.client_id,
            "sub": grant["sub"],
            "iat": now,
            "exp": now + 300,
            "nonce": grant["nonce"],
            "email": f"{grant['sub']}@example.test",
            "email_verified": True,
        }
        if self.mode == "expired":
            claims |= {"iat": now - 7200, "exp": now - 3600}
        elif self.mode == "wrong_audience":
            claims["aud"] = "someone-else"
        elif self.mode == "wrong_issuer":
            claims["iss"] = "https://issuer.example.test"
        elif self.mode == "wrong_nonce":
            claims["nonce"] = "not-the-nonce"
        if self.mode == "alg_none":
            header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
            return f"{header}.{_b64(json.dumps(claims).encode())}."
        if self.mode == "hs256_with_public_key":
            header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
            body = _b64(json.dumps(claims).encode())
            secret = json.dumps(self.key.as_dict(private=False)).encode()
            mac = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
            return f"{header}.{body}.{_b64(mac)}"
        token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.key)
        if self.mode == "tampered":
            header, body, signature = token.split(".")
            forged = dict(claims, sub="admin")
            return f"{header}.{_b64(json.dumps(forged).encode())}.{signature}"
        return token

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
            ]
        )


@contextmanager
def running(stand_in: OIDCStandIn) -> Iterator[OIDCStandIn]:
    with running_app(stand_in.app()) as base_url:
        stand_in.base_url = base_url
        yield stand_in
