"""The generic OpenID Connect provider on the far side of our sign-in broker.

We are a confidential client towards the provider: `state`, `nonce` and PKCE (S256) go out with
every authorization request, and the ID token's signature (keys from the provider's JWKS),
`iss`, `aud`, `exp` and `nonce` are checked before anyone is signed in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from offcoder.auth.transport import CALL_ERRORS

KEY_SET_ERRORS: tuple[type[Exception], ...] = (*CALL_ERRORS, KeyError, JoseError)

ID_TOKEN_ALGORITHMS = ["RS256", "ES256", "PS256", "EdDSA"]
METADATA_TTL_S = 3600


class ProviderError(Exception):
    """The provider refused, or answered something we cannot trust. Safe to show."""


@dataclass(frozen=True)
class ProviderIdentity:
    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    access_token: str | None
    refresh_token: str | None


class IdentityProvider(Protocol):
    """What the sign-in broker needs of a provider (OpenID Connect or plain OAuth 2.0)."""

    name: str
    display_name: str

    async def authorization_url(
        self, *, state: str, nonce: str, code_verifier: str, redirect_uri: str
    ) -> str: ...

    async def exchange(
        self, *, code: str, code_verifier: str, redirect_uri: str, nonce: str
    ) -> ProviderIdentity: ...


class OIDCProvider:
    def __init__(
        self,
        name: str,
        display_name: str,
        issuer: str,
        client_id: str,
        client_secret: str,
        *,
        timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self.display_name = display_name
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self._timeout = timeout_s
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: KeySet | None = None

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None or time.monotonic() - self._metadata_at > METADATA_TTL_S:
            url = self.issuer + "/.well-known/openid-configuration"
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                try:
                    response = await client.get(url)
                    response.raise_for_status()
                    doc = response.json()
                except CALL_ERRORS as exc:
                    raise ProviderError(f"{self.display_name} discovery failed") from exc
            if doc.get("issuer", "").rstrip("/") != self.issuer:
                raise ProviderError(f"{self.display_name} discovery names another issuer")
            self._metadata, self._metadata_at, self._jwks = doc, time.monotonic(), None
        return self._metadata

    async def _keys(self, refresh: bool = False) -> KeySet:
        if self._jwks is None or refresh:
            meta = await self.metadata()
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                try:
                    response = await client.get(meta["jwks_uri"])
                    response.raise_for_status()
                    self._jwks = KeySet.import_key_set(response.json())
                except KEY_SET_ERRORS as exc:
                    raise ProviderError(f"{self.display_name} keys unavailable") from exc
        return self._jwks

    def _client(self, redirect_uri: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self._client_secret,
            redirect_uri=redirect_uri,
            scope="openid email profile",
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method name
            timeout=self._timeout,
        )

    async def authorization_url(
        self, *, state: str, nonce: str, code_verifier: str, redirect_uri: str
    ) -> str:
        meta = await self.metadata()
        async with self._client(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                meta["authorization_endpoint"],
                state=state,
                nonce=nonce,
                code_verifier=code_verifier,
            )
        return str(url)

    async def exchange(
        self, *, code: str, code_verifier: str, redirect_uri: str, nonce: str
    ) -> ProviderIdentity:
        meta = await self.metadata()
        async with self._client(redirect_uri) as client:
            try:
                token = await client.fetch_token(
                    meta["token_endpoint"], code=code, code_verifier=code_verifier
                )
            except Exception as exc:  # authlib raises its own and httpx's errors
                raise ProviderError(f"{self.display_name} refused the code") from exc
            id_token = token.get("id_token")
            if not isinstance(id_token, str):
                raise ProviderError(f"{self.display_name} returned no ID token")
            claims = await self._verify_id_token(id_token, nonce)
            if "email" not in claims and meta.get("userinfo_endpoint"):
                claims = await self._with_userinfo(client, meta["userinfo_endpoint"], claims)
        return ProviderIdentity(
            subject=str(claims["sub"]),
            email=claims.get("email"),
            email_verified=claims.get("email_verified") is True,
            name=claims.get("name"),
            access_token=token.get("access_token"),
            refresh_token=token.get("refresh_token"),
        )

    async def _with_userinfo(
        self, client: AsyncOAuth2Client, url: str, claims: dict[str, Any]
    ) -> dict[str, Any]:
        """Fill e-mail claims from the UserInfo endpoint; its `sub` must match the ID token's."""
        try:
            response = await client.get(url)
            response.raise_for_status()
            info = response.json()
        except CALL_ERRORS as exc:
            raise ProviderError(f"{self.display_name} UserInfo failed") from exc
        if not isinstance(info, dict) or info.get("sub") != claims["sub"]:
            raise ProviderError(f"{self.display_name} UserInfo names another subject")
        merged = dict(claims)
        for name in ("email", "email_verified", "name"):
            if name in info:
                merged[name] = info[name]
        return merged

    async def _verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        keys = await self._keys()
        try:
            try:
                decoded = jwt.decode(id_token, keys, algorithms=ID_TOKEN_ALGORITHMS)
            except JoseError:
                # The provider may have rotated its keys since we fetched them.
                decoded = jwt.decode(
                    id_token, await self._keys(refresh=True), algorithms=ID_TOKEN_ALGORITHMS
                )
            jwt.JWTClaimsRegistry(
                leeway=30,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.client_id},
                exp={"essential": True},
                sub={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise ProviderError(
                f"{self.display_name} ID token rejected ({type(exc).__name__})"
            ) from exc
        return dict(decoded.claims)
