"""GitHub and Bitbucket: OAuth 2.0 providers without ID tokens (A1).

Who signed in is read from the provider's API with the access token the code bought: the
account's immutable numeric id (GitHub) or UUID (Bitbucket) is the subject, never the login name
or the e-mail, which both change. The e-mail is the primary address, and counts as verified only
when the provider's e-mail API says so (GitHub `verified`, Bitbucket `is_confirmed`).

`state` and PKCE (S256) go out with every authorization request as for OpenID Connect; `nonce`
has no meaning here and is ignored. Every base URL is a setting, so the tests point them at local
servers speaking each provider's protocol, through this same code.
"""

from __future__ import annotations

import abc
from typing import Any

from authlib.integrations.httpx_client import AsyncOAuth2Client

from offcoder.auth.oidc import ProviderError, ProviderIdentity
from offcoder.auth.transport import CALL_ERRORS


class OAuth2Provider(abc.ABC):
    """The flow shared by GitHub and Bitbucket; subclasses read the identity from their API."""

    scope = ""

    def __init__(
        self,
        name: str,
        display_name: str,
        *,
        authorize_url: str,
        token_url: str,
        api_url: str,
        client_id: str,
        client_secret: str,
        timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self.display_name = display_name
        self.authorize_url = authorize_url
        self.token_url = token_url
        self.api_url = api_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self._timeout = timeout_s

    def _client(self, redirect_uri: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self._client_secret,
            redirect_uri=redirect_uri,
            scope=self.scope,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method name
            timeout=self._timeout,
        )

    async def authorization_url(
        self, *, state: str, nonce: str, code_verifier: str, redirect_uri: str
    ) -> str:
        async with self._client(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                self.authorize_url, state=state, code_verifier=code_verifier
            )
        return str(url)

    async def exchange(
        self, *, code: str, code_verifier: str, redirect_uri: str, nonce: str
    ) -> ProviderIdentity:
        async with self._client(redirect_uri) as client:
            try:
                token = await client.fetch_token(
                    self.token_url,
                    code=code,
                    code_verifier=code_verifier,
                    headers={"Accept": "application/json"},
                )
            except Exception as exc:  # authlib raises its own and httpx's errors
                raise ProviderError(f"{self.display_name} refused the code") from exc
            if not token.get("access_token"):
                raise ProviderError(f"{self.display_name} returned no access token")
            subject, name, email, verified = await self._identity(client)
        return ProviderIdentity(
            subject=subject,
            email=email,
            email_verified=verified,
            name=name,
            access_token=token.get("access_token"),
            refresh_token=token.get("refresh_token"),
        )

    async def _get(self, client: AsyncOAuth2Client, path: str) -> Any:
        try:
            response = await client.get(self.api_url + path, headers=self._api_headers())
            response.raise_for_status()
            return response.json()
        except CALL_ERRORS as exc:
            raise ProviderError(f"{self.display_name} API call failed ({path})") from exc

    def _api_headers(self) -> dict[str, str]:
        return {"Accept": "application/json"}

    @abc.abstractmethod
    async def _identity(
        self, client: AsyncOAuth2Client
    ) -> tuple[str, str | None, str | None, bool]:
        """(subject, display name, primary e-mail, whether the provider verified it)."""


class GitHubProvider(OAuth2Provider):
    scope = "read:user user:email"

    def _api_headers(self) -> dict[str, str]:
        return {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}

    async def _identity(
        self, client: AsyncOAuth2Client
    ) -> tuple[str, str | None, str | None, bool]:
        user = await self._get(client, "/user")
        if not isinstance(user, dict) or not isinstance(user.get("id"), int):
            raise ProviderError("GitHub returned no account id")
        emails = await self._get(client, "/user/emails")
        primary = (
            next((e for e in emails if isinstance(e, dict) and e.get("primary") is True), None)
            if isinstance(emails, list)
            else None
        )
        email = primary.get("email") if primary else None
        verified = bool(primary and primary.get("verified") is True)
        return str(user["id"]), user.get("name") or user.get("login"), email, verified


class BitbucketProvider(OAuth2Provider):
    scope = "account email"

    async def _identity(
        self, client: AsyncOAuth2Client
    ) -> tuple[str, str | None, str | None, bool]:
        user = await self._get(client, "/user")
        if not isinstance(user, dict) or not isinstance(user.get("uuid"), str):
            raise ProviderError("Bitbucket returned no account id")
        emails = await self._get(client, "/user/emails")
        values = emails.get("values") if isinstance(emails, dict) else None
        primary = next(
            (e for e in values or [] if isinstance(e, dict) and e.get("is_primary") is True), None
        )
        email = primary.get("email") if primary else None
        verified = bool(primary and primary.get("is_confirmed") is True)
        return user["uuid"], user.get("display_name"), email, verified
