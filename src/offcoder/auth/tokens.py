"""Access tokens (A3): JWTs living 15 minutes, signed ES256 with a key that has a `kid`.

The algorithm is pinned on both sides; `iss`, `aud`, `exp` and the token type are checked, so
an ID token, a refresh token or a token from another issuer is never taken for an access token.
Refresh tokens are opaque random strings, stored only as their SHA-256 (see service.py).
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from offcoder.config import Settings

ALGORITHM = "ES256"
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - the RFC 9068 media type
REFRESH_PREFIX = "ocr_"
CODE_PREFIX = "occ_"
LINK_CODE_PREFIX = "ocl_"
DEVICE_CODE_PREFIX = "ocd_"


class InvalidAccessToken(Exception):
    """The token is not one of our live access tokens; the reason is for logs, not clients."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    amr: tuple[str, ...]
    expires_at: int
    token_id: str

    @property
    def mfa(self) -> bool:
        return "mfa" in self.amr


class TokenSigner:
    """Signs and verifies access tokens; publishes the public half as JWKS."""

    def __init__(self, private_key: ECKey, settings: Settings) -> None:
        self._key = private_key
        self.kid = private_key.thumbprint()
        self._verify_keys = KeySet(
            [ECKey.import_key(private_key.as_dict(private=False) | {"kid": self.kid})]
        )
        self._issuer = settings.issuer
        self._audience = settings.jwt_audience
        self._ttl = settings.access_token_ttl_s

    @property
    def ttl(self) -> int:
        return self._ttl

    def jwks(self) -> dict[str, Any]:
        public = self._key.as_dict(private=False)
        return {"keys": [public | {"kid": self.kid, "use": "sig", "alg": ALGORITHM}]}

    def issue(self, user_id: uuid.UUID, session_id: uuid.UUID, amr: list[str]) -> str:
        now = int(time.time())
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "sid": str(session_id),
            "amr": amr,
            "iat": now,
            "nbf": now,
            "exp": now + self._ttl,
            "jti": secrets.token_urlsafe(12),
        }
        header = {"alg": ALGORITHM, "kid": self.kid, "typ": ACCESS_TOKEN_TYPE}
        return jwt.encode(header, claims, self._key, algorithms=[ALGORITHM])

    def verify(self, token: str) -> AccessClaims:
        try:
            decoded = jwt.decode(token, self._verify_keys, algorithms=[ALGORITHM])
        except (JoseError, ValueError) as exc:
            raise InvalidAccessToken(f"undecodable or badly signed: {type(exc).__name__}") from exc
        if decoded.header.get("typ") != ACCESS_TOKEN_TYPE:
            raise InvalidAccessToken("not an access token")
        if decoded.header.get("kid") != self.kid:
            raise InvalidAccessToken("unknown key id")
        registry = jwt.JWTClaimsRegistry(
            leeway=5,
            iss={"essential": True, "value": self._issuer},
            aud={"essential": True, "value": self._audience},
            exp={"essential": True},
            sub={"essential": True},
            sid={"essential": True},
        )
        try:
            registry.validate(decoded.claims)
            return AccessClaims(
                user_id=uuid.UUID(decoded.claims["sub"]),
                session_id=uuid.UUID(decoded.claims["sid"]),
                amr=tuple(decoded.claims.get("amr") or ()),
                expires_at=int(decoded.claims["exp"]),
                token_id=str(decoded.claims.get("jti", "")),
            )
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise InvalidAccessToken(f"claims rejected: {type(exc).__name__}") from exc


def load_signing_key(settings: Settings) -> ECKey:
    """The configured PEM key; in development, one generated once under the state dir."""
    if settings.jwt_private_key is not None:
        return ECKey.import_key(settings.jwt_private_key.get_secret_value())
    path = settings.jwt_private_key_file or generated_signing_key_file(settings)
    if not path.exists():
        if settings.jwt_private_key_file is not None:
            raise FileNotFoundError(f"no token signing key at {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        key = ECKey.generate_key("P-256", private=True)
        path.touch(mode=0o600)
        path.write_bytes(key.as_pem(private=True))
    return ECKey.import_key(path.read_bytes())


def generated_signing_key_file(settings: Settings) -> Path:
    return settings.state_dir / "jwt-signing-key.pem"


def new_opaque(prefix: str) -> str:
    """256 bits of randomness, URL-safe, with a prefix that makes leaked tokens recognisable."""
    return prefix + secrets.token_urlsafe(32)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
