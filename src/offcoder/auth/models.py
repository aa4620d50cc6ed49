from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from offcoder.db.base import Base, IdMixin, TimestampMixin, utcnow


class OAuthIdentity(IdMixin, TimestampMixin, Base):
    """A provider account of a user, keyed by (provider, subject) and never by e-mail."""

    __tablename__ = "oauth_identities"
    __table_args__ = (UniqueConstraint("provider", "subject", name="uq_oauth_identities_subject"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    email_verified: Mapped[bool] = mapped_column(default=False)
    # Provider tokens, encrypted with the keyring (R2), bound to this row and user.
    access_token_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    refresh_token_enc: Mapped[bytes | None] = mapped_column(LargeBinary)


class DeviceSession(IdMixin, Base):
    """One signed-in device. Every refresh token belongs to exactly one (A4)."""

    __tablename__ = "device_sessions"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    device_name: Mapped[str] = mapped_column(String(100))
    provider: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The session dies at this time whatever its refresh tokens say.
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(32))
    ip_prefix: Mapped[str | None] = mapped_column(String(64))
    # Set when the session proved a second factor; access tokens then carry amr ["mfa"].
    mfa_at: Mapped[datetime | None]


class RefreshToken(IdMixin, Base):
    """An opaque refresh token, stored only as its SHA-256. `session_id` is its family."""

    __tablename__ = "refresh_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("device_sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    replaced_by_id: Mapped[uuid.UUID | None]


class AuthorizationRequest(Base):
    """A sign-in in flight between our authorize and callback endpoints (no user yet).

    Remembers the provider it was sent to, so a callback for another provider is refused.
    """

    __tablename__ = "authorization_requests"

    state_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    nonce: Mapped[str] = mapped_column(String(128))
    provider_code_verifier: Mapped[str] = mapped_column(String(128))
    client_state: Mapped[str] = mapped_column(String(512))
    client_redirect_uri: Mapped[str] = mapped_column(String(2048))
    client_code_challenge: Mapped[str] = mapped_column(String(128))
    device_name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Indexed for the purge of expired requests at each sign-in start (migration 0010).
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]
    # Set when a signed-in user links another provider: the callback then issues an
    # IdentityLinkCode for this user instead of signing anyone in.
    link_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE")
    )
    # SHA-256 of a random value the starting browser holds in a `__Host-` cookie (the web
    # console); the link code inherits it and is refused without that value.
    browser_binding_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))


class AuthorizationCode(Base):
    """The one-time code we hand the client at its redirect_uri, exchanged with PKCE."""

    __tablename__ = "authorization_codes"

    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    code_challenge: Mapped[str] = mapped_column(String(128))
    device_name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class IdentityLinkCode(Base):
    """The one-time code the provider step of a link hands the client that started it (A2).

    It holds who the provider said the person is; that identity joins `user_id` only when the
    same signed-in user redeems the code with the PKCE verifier of the start (and, where the
    start was bound to a browser, that browser's cookie value). Whoever merely completes the
    provider step gains nothing: the code is useless to them.

    Because it holds a provider account's subject and e-mail (in the attack case a stranger's,
    under the attacker's user_id), the row lives no longer than the code: spending the code
    deletes it (there is no "used" state), expired rows are purged at the next sign-in or link
    start, and an account's erasure deletes the rows it started and those that name it.
    """

    __tablename__ = "identity_link_codes"

    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    # The user who started the link, and the only one who can finish it.
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    email_verified: Mapped[bool] = mapped_column(default=False)
    code_challenge: Mapped[str] = mapped_column(String(128))
    browser_binding_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class DeviceAuthorization(Base):
    """A device authorization request (RFC 8628, decision 0032): a terminal with no browser asks
    for one, a signed-in person approves or denies it at /console/device by its user code, and
    the terminal polls the token endpoint with its device code until then.

    Both codes are stored only as their SHA-256. The device code (256 bits) is what tokens are
    issued for, once (`used_at`); the short user code (20^8 values) only finds the request for
    the person approving it, while it is pending and at most `device_code_ttl_s` old. Expired
    rows go with the sign-in purge (auth/retention.py); an approved row goes with its user.
    """

    __tablename__ = "device_authorizations"

    device_code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    user_code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    device_name: Mapped[str] = mapped_column(String(100))
    # The requesting address's /24 or /48, shown on the approval page (phishing, decision 0032).
    ip_prefix: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    # The polling interval the client must keep; each slow_down adds 5 seconds.
    interval_s: Mapped[int]
    last_polled_at: Mapped[datetime | None]
    # pending, approved or denied (DeviceStatus in auth/device.py).
    status: Mapped[str] = mapped_column(String(16))
    # Who approved or denied it, and the provider of the approving session (the new session's).
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None]
    # Set when the device code was exchanged for tokens: it never works again.
    used_at: Mapped[datetime | None]


class MfaTotp(Base):
    """A user's TOTP second factor (A5): the shared secret, sealed with the keyring (R2)."""

    __tablename__ = "mfa_totp"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by the first correct code; until then the factor does not count.
    confirmed_at: Mapped[datetime | None]
    # The last 30-second step accepted: a code of that step or an earlier one is a replay.
    last_step: Mapped[int | None] = mapped_column(BigInteger)
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]


class MfaRecoveryCode(IdMixin, Base):
    """A one-time recovery code, stored only as its SHA-256 (the codes are random, 80 bits)."""

    __tablename__ = "mfa_recovery_codes"
    __table_args__ = (UniqueConstraint("user_id", "code_hash", name="uq_mfa_recovery_codes"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]


class Role(StrEnum):
    """The admin roles an operator can grant (O4); `admin/roles.py` says what each may do."""

    support = "support"
    finance = "finance"
    safety = "safety"
    superadmin = "superadmin"


class AdminRole(Base):
    """A least-privilege admin role held by a user (O4). Granted only by an operator."""

    __tablename__ = "admin_roles"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    granted_by: Mapped[str] = mapped_column(String(100))
