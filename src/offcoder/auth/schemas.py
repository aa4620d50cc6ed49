from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class AuthorizationCodeGrant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grant_type: Literal["authorization_code"]
    code: str = Field(min_length=1, max_length=512)
    code_verifier: str = Field(min_length=1, max_length=256)


class RefreshTokenGrant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grant_type: Literal["refresh_token"]
    refresh_token: str = Field(min_length=1, max_length=512)


class DeviceCodeGrant(BaseModel):
    """A poll of the device authorization grant (RFC 8628 section 3.4)."""

    model_config = ConfigDict(extra="forbid")
    grant_type: Literal["urn:ietf:params:oauth:grant-type:device_code"]
    device_code: str = Field(min_length=1, max_length=512)
    # OAuth libraries send their client id; this server has no registered clients.
    client_id: str | None = Field(default=None, max_length=256)


class DeviceCodeRequest(BaseModel):
    """Ask for a device code and a user code (RFC 8628 section 3.1)."""

    model_config = ConfigDict(extra="forbid")
    # Shown to the person approving, and stored: no control characters (nor NUL, which
    # PostgreSQL refuses in text).
    device_name: str = Field(
        default="terminal", min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$"
    )
    # Accepted for OAuth libraries and ignored: no registered clients, no scopes.
    client_id: str | None = Field(default=None, max_length=256)
    scope: str | None = Field(default=None, max_length=256)


class DeviceCodeResponse(BaseModel):
    """RFC 8628 section 3.2: show `user_code` and `verification_uri` to the person (or
    `verification_uri_complete`, e.g. as a QR code), then poll the token endpoint with
    `device_code` no more often than every `interval` seconds, for at most `expires_in`."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name
    expires_in: int
    refresh_token: str
    session_id: uuid.UUID


class Provider(BaseModel):
    name: str
    display_name: str
    authorize_url: str


class ProviderList(BaseModel):
    items: list[Provider]


class DeviceSessionOut(BaseModel):
    id: uuid.UUID
    device_name: str
    provider: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    ip_prefix: str | None
    current: bool


class DeviceSessionList(BaseModel):
    items: list[DeviceSessionOut]
    next_cursor: str | None = None


class SessionsEnded(BaseModel):
    """How many device sessions a "sign out everywhere else" ended."""

    ended: int


class TotpEnrolment(BaseModel):
    """Shown once: the secret for an authenticator app, and the same as an otpauth:// URI."""

    secret: str
    otpauth_uri: str


class TotpCode(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[0-9]{6}$")


class RecoveryCodes(BaseModel):
    """Shown once; each works once. Keep them somewhere safe."""

    recovery_codes: list[str]


class MfaVerification(BaseModel):
    """A current TOTP code, or one of the recovery codes."""

    model_config = ConfigDict(extra="forbid")
    code: str | None = Field(default=None, pattern=r"^[0-9]{6}$")
    recovery_code: str | None = Field(default=None, min_length=10, max_length=64)

    @model_validator(mode="after")
    def _one_of(self) -> MfaVerification:
        if (self.code is None) == (self.recovery_code is None):
            raise ValueError("give exactly one of code and recovery_code")
        return self


class MfaToken(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name
    expires_in: int


class LinkStart(BaseModel):
    """Start linking another provider to the signed-in account (the client then opens the URL)."""

    model_config = ConfigDict(extra="forbid")
    redirect_uri: str = Field(max_length=2048)
    state: str = Field(min_length=1, max_length=512)
    code_challenge: str = Field(max_length=128)
    code_challenge_method: str = Field(default="S256", max_length=16)


class LinkUrl(BaseModel):
    """Where to send the browser. It comes back to redirect_uri with `code=<link code>&state=`;
    then `POST /v1/me/identities/{provider}/complete` with that code and the PKCE verifier."""

    authorize_url: str


class LinkCompletion(BaseModel):
    """The link code from redirect_uri and the PKCE verifier of the request that started the
    link; only the account that started it can redeem it, once."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=512)
    code_verifier: str = Field(min_length=1, max_length=256)


class IdentityOut(BaseModel):
    """A provider account linked to yours: which provider and e-mail, never its tokens."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    provider: str
    email: str | None
    email_verified: bool
    created_at: datetime


class IdentityList(BaseModel):
    items: list[IdentityOut]
