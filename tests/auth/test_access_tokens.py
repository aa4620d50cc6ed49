"""A3: access tokens are 15-minute JWTs, ES256-pinned, with a kid published as JWKS."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

from offcoder.auth.tokens import TokenSigner
from offcoder.context import AppContext
from tests.support.signin import SignedIn

pytestmark = pytest.mark.promise("A3")


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims_of(token: str) -> tuple[dict[str, object], dict[str, object]]:
    header, payload, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return json.loads(base64.urlsafe_b64decode(pad(header))), json.loads(
        base64.urlsafe_b64decode(pad(payload))
    )


async def me(api: httpx.AsyncClient, token: str) -> int:
    return (await api.get("/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code


async def test_access_token_is_a_15_minute_es256_jwt_with_a_published_kid(
    api: httpx.AsyncClient, alice: SignedIn
) -> None:
    header, claims = claims_of(alice.access_token)
    jwks = (await api.get("/.well-known/jwks.json")).json()
    assert header["alg"] == "ES256" and header["typ"] == "at+jwt"
    assert [k["kid"] for k in jwks["keys"]] == [header["kid"]]
    assert all("d" not in k for k in jwks["keys"]), "the JWKS must not publish the private key"
    assert claims["exp"] - claims["iat"] == 15 * 60  # type: ignore[operator]
    assert claims["aud"] == "offcoder-api" and claims["iss"] == "http://testserver"
    # The published key really verifies the token.
    public = ECKey.import_key(jwks["keys"][0])
    assert jwt.decode(alice.access_token, public, algorithms=["ES256"]).claims["sub"]


async def test_unsigned_token_is_refused(api: httpx.AsyncClient, alice: SignedIn) -> None:
    header, claims = claims_of(alice.access_token)
    forged = f"{b64(header | {'alg': 'none'})}.{b64(claims)}."
    assert await me(api, forged) == 401


async def test_hmac_with_the_public_key_is_refused(api: httpx.AsyncClient, alice: SignedIn) -> None:
    """Algorithm confusion: an HS256 token keyed with our public key must not pass."""
    header, claims = claims_of(alice.access_token)
    jwks = (await api.get("/.well-known/jwks.json")).json()
    secret = OctKey.import_key(json.dumps(jwks["keys"][0]).encode())
    forged = jwt.encode(header | {"alg": "HS256"}, claims, secret, algorithms=["HS256"])
    assert await me(api, forged) == 401


async def test_token_signed_by_another_key_with_our_kid_is_refused(
    api: httpx.AsyncClient, alice: SignedIn
) -> None:
    header, claims = claims_of(alice.access_token)
    stranger = ECKey.generate_key("P-256", private=True)
    forged = jwt.encode(header, claims, stranger, algorithms=["ES256"])
    assert await me(api, forged) == 401


async def test_tampered_claims_are_refused(
    api: httpx.AsyncClient, alice: SignedIn, bob: SignedIn
) -> None:
    header_b64, _, signature = alice.access_token.split(".")
    _, bob_claims = claims_of(bob.access_token)
    assert await me(api, f"{header_b64}.{b64(bob_claims)}.{signature}") == 401


@pytest.mark.parametrize(
    "override",
    [
        {"access_token_ttl_s": -60},
        {"jwt_audience": "someone-else"},
        {"jwt_issuer": "https://evil.test"},
    ],
    ids=["expired", "wrong-audience", "wrong-issuer"],
)
async def test_expired_or_foreign_tokens_are_refused(
    api: httpx.AsyncClient, context: AppContext, alice: SignedIn, override: dict[str, object]
) -> None:
    _, claims = claims_of(alice.access_token)
    other = TokenSigner(context.signer._key, context.settings.model_copy(update=override))
    token = other.issue(claims["sub"], claims["sid"], ["oauth"])  # type: ignore[arg-type]
    assert await me(api, token) == 401
    # The same key and claims with our settings pass: only the changed claim was wrong.
    assert await me(api, context.signer.issue(claims["sub"], claims["sid"], ["oauth"])) == 200  # type: ignore[arg-type]


async def test_refresh_token_is_not_an_access_token(
    api: httpx.AsyncClient, alice: SignedIn
) -> None:
    assert await me(api, alice.refresh_token) == 401


async def test_missing_or_malformed_authorization_is_a_problem(api: httpx.AsyncClient) -> None:
    for headers in (
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer x.y.z"},
    ):
        response = await api.get("/v1/me", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_token_lifetime_is_the_claimed_lifetime(alice: SignedIn) -> None:
    _, claims = claims_of(alice.access_token)
    assert abs(claims["iat"] - time.time()) < 60  # type: ignore[operator]
