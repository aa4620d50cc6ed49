"""Sign-in broker, device sessions and refresh-token rotation (A3, A4).

Sign-in runs before anyone is known, so it works in a system-role transaction handed in by the
endpoint; session listing and logout run as the signed-in user under RLS.
"""

from __future__ import annotations

import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlencode, urlsplit, urlunsplit

import structlog
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.audit.service import ActorKind, record
from offcoder.auth.models import (
    AuthorizationCode,
    AuthorizationRequest,
    DeviceSession,
    IdentityLinkCode,
    OAuthIdentity,
    RefreshToken,
)
from offcoder.auth.oidc import IdentityProvider, ProviderIdentity
from offcoder.auth.pkce import pkce_challenge
from offcoder.auth.tokens import (
    CODE_PREFIX,
    LINK_CODE_PREFIX,
    REFRESH_PREFIX,
    AccessClaims,
    digest,
    new_opaque,
)
from offcoder.context import AppContext
from offcoder.crypto import bindings
from offcoder.db.base import utcnow
from offcoder.problems import CommitThenRefuse, Problem, Unauthorized
from offcoder.realtime.signals import signal_session_ended
from offcoder.users.models import User

log = structlog.get_logger(__name__)

PKCE_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
PKCE_CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")


class GrantError(Problem):
    """A token-endpoint refusal: problem+json carrying the RFC 6749 `error` member."""

    def __init__(self, detail: str, error: str = "invalid_grant") -> None:
        super().__init__(400, error.replace("_", "-"), detail, error=error)


class EndReason(StrEnum):
    logout = "logout"
    revoked = "revoked"
    refresh_token_reuse = "refresh_token_reuse"  # noqa: S105 - a reason, not a secret
    suspended = "suspended"  # an admin suspended the account


class AccountSuspended(Problem):
    def __init__(self) -> None:
        super().__init__(403, "account-suspended", "This account is suspended; sign-in is refused.")


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    session_id: uuid.UUID
    expires_in: int

    def as_response(self) -> dict[str, object]:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "session_id": str(self.session_id),
        }


# Native apps (the `offcoder login` CLI) receive the code on a loopback port of their choosing
# (RFC 8252 section 7.3): any port, this exact path, IPv4 or IPv6 loopback literal only.
LOOPBACK_REDIRECT = re.compile(r"http://(127\.0\.0\.1|\[::1\]):[0-9]{1,5}/offcoder-cli/callback")


def callback_url(ctx: AppContext, provider: str) -> str:
    return f"{ctx.settings.public_url.rstrip('/')}/v1/auth/{provider}/callback"


def console_link_callback_url(ctx: AppContext) -> str:
    """Where the provider step of a link started in the web console hands it the link code
    (allowed for links only: a sign-in code has no business there)."""
    return f"{ctx.settings.public_url.rstrip('/')}/console/identities/callback"


def with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


# --- the broker ---------------------------------------------------------------------------


async def begin_sign_in(
    session: AsyncSession,
    ctx: AppContext,
    provider: IdentityProvider,
    *,
    redirect_uri: str,
    client_state: str,
    code_challenge: str,
    code_challenge_method: str,
    device_name: str,
    link_user_id: uuid.UUID | None = None,
    browser_binding: str | None = None,
) -> str:
    """Remember the client's request and return the provider's authorization URL.

    With `link_user_id` (see `begin_link`), the callback hands the client a link code for that
    user instead of signing anyone in.
    """
    allowed = (
        *ctx.settings.redirect_uris,
        ctx.settings.console_callback_url,
        ctx.settings.admin_callback_url,
    )
    if link_user_id is not None:
        allowed = (*allowed, console_link_callback_url(ctx))
    if redirect_uri not in allowed and not LOOPBACK_REDIRECT.fullmatch(redirect_uri):
        raise Problem(400, "redirect-uri-not-allowed", "redirect_uri is not on the allow-list.")
    if code_challenge_method != "S256":
        raise Problem(
            400, "invalid-request", "code_challenge_method must be S256.", error="invalid_request"
        )
    if not PKCE_CHALLENGE.match(code_challenge):
        raise Problem(
            400,
            "invalid-request",
            "code_challenge must be a base64url SHA-256.",
            error="invalid_request",
        )
    await purge_expired(session)
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    now = utcnow()
    session.add(
        AuthorizationRequest(
            state_hash=digest(state),
            provider=provider.name,
            nonce=nonce,
            provider_code_verifier=verifier,
            client_state=client_state,
            client_redirect_uri=redirect_uri,
            client_code_challenge=code_challenge,
            device_name=device_name,
            created_at=now,
            expires_at=now + timedelta(seconds=ctx.settings.auth_request_ttl_s),
            link_user_id=link_user_id,
            browser_binding_hash=digest(browser_binding) if browser_binding else None,
        )
    )
    return await provider.authorization_url(
        state=state,
        nonce=nonce,
        code_verifier=verifier,
        redirect_uri=callback_url(ctx, provider.name),
    )


async def begin_link(
    session: AsyncSession,
    ctx: AppContext,
    provider: IdentityProvider,
    *,
    user_id: uuid.UUID,
    redirect_uri: str,
    client_state: str,
    code_challenge: str,
    code_challenge_method: str,
    browser_binding: str | None = None,
) -> str:
    """Start linking `provider` to the signed-in `user_id`; return the provider's URL.

    Whoever opens that URL and signs in at the provider earns nothing but a one-time link code,
    sent to the starting client's redirect_uri; only `complete_link`, called by this same user
    with the PKCE verifier of this start, links the identity (A2). `browser_binding` (a random
    value the web console keeps in a `__Host-` cookie) also ties the link to that browser.
    """
    return await begin_sign_in(
        session,
        ctx,
        provider,
        redirect_uri=redirect_uri,
        client_state=client_state,
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method,
        device_name="link",
        link_user_id=user_id,
        browser_binding=browser_binding,
    )


# At most this many rows of each table per purge: a start never waits on a large backlog.
PURGE_BATCH = 200


async def purge_expired(session: AsyncSession) -> None:
    """Delete a bounded batch of expired link codes and sign-in requests (run at each sign-in
    or link start). An expired row is refused as if unknown, so deleting it changes no answer;
    a link code holds a provider account's subject and e-mail, which must not outlive it. Rows
    another transaction holds (a callback or redemption in flight) are skipped, not waited for.
    """
    now = utcnow()
    for table, key in (
        (IdentityLinkCode, IdentityLinkCode.code_hash),
        (AuthorizationRequest, AuthorizationRequest.state_hash),
    ):
        expired = (
            select(key)
            .where(table.expires_at < now)
            .limit(PURGE_BATCH)
            .with_for_update(skip_locked=True)
        )
        await session.execute(
            delete(table).where(key.in_(expired)).execution_options(synchronize_session=False)
        )


async def spend_link_code(session: AsyncSession, code: str) -> IdentityLinkCode | None:
    """Spend a link code, whatever comes next: its row is deleted (it holds a provider account's
    subject and e-mail) and returned, or None if it was unknown or already spent. Of concurrent
    attempts, exactly one gets the row."""
    spent: IdentityLinkCode | None = await session.scalar(
        delete(IdentityLinkCode)
        .where(IdentityLinkCode.code_hash == digest(code))
        .returning(IdentityLinkCode)
        .execution_options(synchronize_session=False)
    )
    return spent


async def forget_link_codes(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    emails: set[str],
    identities: set[tuple[str, str]],
) -> None:
    """Account erasure (V3): delete the link codes `user_id` started and those naming one of its
    e-mail addresses or provider accounts, whoever started them (the attack case leaves the
    victim's address under the attacker's user_id). Run in a system-role transaction committed
    before the account's own delete, whose cascade would otherwise wait on these rows."""
    named = [IdentityLinkCode.user_id == user_id]
    if emails:
        named.append(func.lower(IdentityLinkCode.email).in_(sorted(e.lower() for e in emails)))
    named.extend(
        and_(IdentityLinkCode.provider == provider, IdentityLinkCode.subject == subject)
        for provider, subject in sorted(identities)
    )
    await session.execute(
        delete(IdentityLinkCode).where(or_(*named)).execution_options(synchronize_session=False)
    )


async def take_authorization_request(
    session: AsyncSession, provider: IdentityProvider, state: str
) -> AuthorizationRequest:
    """The pending request this callback answers; refused if unknown, used, stale or mixed up."""
    pending = await session.scalar(
        select(AuthorizationRequest)
        .where(AuthorizationRequest.state_hash == digest(state))
        .with_for_update()
    )
    if pending is None or pending.used_at is not None or pending.expires_at < utcnow():
        raise Problem(400, "invalid-state", "Unknown, used or expired sign-in state.")
    if not hmac.compare_digest(pending.provider, provider.name):
        # Mix-up defence (RFC 9700 4.4): the answer comes from a provider we did not ask.
        raise Problem(400, "invalid-state", "This sign-in was started with another provider.")
    pending.used_at = utcnow()
    return pending


async def finish_sign_in(
    session: AsyncSession,
    ctx: AppContext,
    provider: IdentityProvider,
    pending: AuthorizationRequest,
    code: str,
) -> str:
    """Exchange the provider's code, find or create the user, return the client redirect.

    For a link, return the redirect with a link code instead (see `complete_link`).
    """
    identity = await provider.exchange(
        code=code,
        code_verifier=pending.provider_code_verifier,
        redirect_uri=callback_url(ctx, provider.name),
        nonce=pending.nonce,
    )
    now = utcnow()
    if pending.link_user_id is not None:
        # The browser that reached this callback may not be the one that started the link (the
        # URL can be sent to anyone): it proves who the provider account is, never who asked.
        # So it only carries a code back to the starting client's redirect_uri.
        link_code = new_opaque(LINK_CODE_PREFIX)
        session.add(
            IdentityLinkCode(
                code_hash=digest(link_code),
                user_id=pending.link_user_id,
                provider=provider.name,
                subject=identity.subject,
                email=identity.email,
                email_verified=identity.email_verified,
                code_challenge=pending.client_code_challenge,
                browser_binding_hash=pending.browser_binding_hash,
                created_at=now,
                expires_at=now + timedelta(seconds=ctx.settings.authorization_code_ttl_s),
            )
        )
        return with_query(
            pending.client_redirect_uri, {"code": link_code, "state": pending.client_state}
        )
    user = await _user_for_identity(session, ctx, provider.name, identity)
    one_time = new_opaque(CODE_PREFIX)
    session.add(
        AuthorizationCode(
            code_hash=digest(one_time),
            user_id=user.id,
            provider=provider.name,
            redirect_uri=pending.client_redirect_uri,
            code_challenge=pending.client_code_challenge,
            device_name=pending.device_name,
            created_at=now,
            expires_at=now + timedelta(seconds=ctx.settings.authorization_code_ttl_s),
        )
    )
    return with_query(
        pending.client_redirect_uri, {"code": one_time, "state": pending.client_state}
    )


@dataclass(frozen=True)
class LinkedIdentity:
    identity: OAuthIdentity
    created: bool  # False when the identity already signed in to this same account


async def complete_link(
    session: AsyncSession,
    claims: AccessClaims,
    provider: str,
    code: str,
    code_verifier: str,
    *,
    browser_binding: str | None = None,
) -> LinkedIdentity:
    """Turn a link code into a link, for the signed-in user who started it and nobody else (A2).

    Refused unless the code is live, was issued for this user and `provider`, the verifier
    matches the start's PKCE challenge and, for a start bound to a browser, `browser_binding`
    is that browser's value. The code is spent (its row deleted) before anything is checked, so
    every call spends it, whatever the answer: a refusal, the 401 of an ended device session
    and a link alike. Refusals are `CommitThenRefuse`, so the spend commits with them.
    """
    grant = await spend_link_code(session, code)
    device = await live_session(session, claims.session_id)
    if device is None or device.user_id != claims.user_id:
        raise CommitThenRefuse(Unauthorized("The session of this access token has ended."))
    if grant is None or grant.expires_at < utcnow():
        raise CommitThenRefuse(GrantError("The link code is unknown, used or expired."))
    if grant.user_id != claims.user_id:
        # Someone else's link came back to this client: its owner sent the provider URL here.
        log.warning("link code presented by another account", provider=grant.provider)
        raise CommitThenRefuse(
            GrantError("This link was started by another account; nothing was linked.")
        )
    if not hmac.compare_digest(grant.provider, provider):
        raise CommitThenRefuse(GrantError("This link code is for another provider."))
    if grant.browser_binding_hash is not None and not (
        browser_binding and hmac.compare_digest(digest(browser_binding), grant.browser_binding_hash)
    ):
        raise CommitThenRefuse(GrantError("This link did not start in this browser."))
    if not PKCE_VERIFIER.match(code_verifier):
        raise CommitThenRefuse(GrantError("code_verifier is malformed.", "invalid_request"))
    if not hmac.compare_digest(pkce_challenge(code_verifier), grant.code_challenge):
        raise CommitThenRefuse(GrantError("code_verifier does not match the code_challenge."))
    return await _link_identity(session, grant)


async def _link_identity(session: AsyncSession, grant: IdentityLinkCode) -> LinkedIdentity:
    """Attach the identity of a redeemed link code to the user who started the link.

    The user proved both sides in person (signed in here, and at the provider), so the e-mail
    rule of automatic joining does not apply; an identity that signs in to another account is
    never moved. The provider's tokens of the link step are not kept (the next sign-in with
    that provider stores them, sealed).
    """
    row = await session.scalar(
        select(OAuthIdentity)
        .where(OAuthIdentity.provider == grant.provider, OAuthIdentity.subject == grant.subject)
        .with_for_update()
    )
    if row is not None and row.user_id != grant.user_id:
        # Another account signs in with it: moving it would be a silent takeover.
        raise CommitThenRefuse(
            Problem(
                409,
                "identity-in-use",
                "Another account signs in with this provider account; it stays with that account.",
            )
        )
    created = row is None
    if row is None:
        row = OAuthIdentity(
            id=uuid.uuid4(), user_id=grant.user_id, provider=grant.provider, subject=grant.subject
        )
        session.add(row)
        await session.flush()
        await record(
            session,
            "auth.identity.linked",
            actor_id=grant.user_id,
            actor_kind=ActorKind.user,
            target=f"user:{grant.user_id}",
            details={"provider": grant.provider, "by": "session"},
        )
    row.email = grant.email
    row.email_verified = grant.email_verified
    await session.flush()
    return LinkedIdentity(row, created)


def _store_identity(
    ctx: AppContext, row: OAuthIdentity, identity: ProviderIdentity, user: User
) -> None:
    """What the provider said now, its tokens sealed with the keyring (R2)."""
    row.email = identity.email
    row.email_verified = identity.email_verified
    for attribute, column in (
        ("access_token", "access_token_enc"),
        ("refresh_token", "refresh_token_enc"),
    ):
        value = getattr(identity, attribute)
        binding = bindings.provider_token(column, row.id, user.id)
        setattr(row, column, ctx.keyring.seal_text(value, binding) if value else None)


async def _user_for_identity(
    session: AsyncSession, ctx: AppContext, provider: str, identity: ProviderIdentity
) -> User:
    """Users are found by (provider, subject). A new identity joins an existing account only
    when both sides have verified the e-mail (A2): the provider asserts it verified now, and the
    account's e-mail was verified when it was recorded. Anything less makes a separate account:
    an account opened with an unverified address (a pre-hijack attempt) never captures a later,
    verified sign-in for that address."""
    row = await session.scalar(
        select(OAuthIdentity)
        .where(OAuthIdentity.provider == provider, OAuthIdentity.subject == identity.subject)
        .with_for_update()
    )
    now = utcnow()
    linked: User | None = None
    if row is None and identity.email and identity.email_verified:
        candidates = list(
            await session.scalars(
                select(User).where(
                    func.lower(User.email) == identity.email.lower(),
                    User.email_verified_at.is_not(None),
                )
            )
        )
        # Exactly one account may claim the address; two would make the choice a guess.
        linked = candidates[0] if len(candidates) == 1 else None
    if row is None and linked is not None:
        user = linked
        row = OAuthIdentity(
            id=uuid.uuid4(), user_id=user.id, provider=provider, subject=identity.subject
        )
        session.add(row)
        await session.flush()
        await record(
            session,
            "auth.identity.linked",
            actor_id=user.id,
            actor_kind=ActorKind.user,
            target=f"user:{user.id}",
            details={"provider": provider, "by": "verified_email"},
        )
    elif row is None:
        user = User(
            id=uuid.uuid4(),
            display_name=identity.name,
            email=identity.email,
            email_verified_at=now if identity.email_verified else None,
        )
        session.add(user)
        await session.flush()
        row = OAuthIdentity(
            id=uuid.uuid4(), user_id=user.id, provider=provider, subject=identity.subject
        )
        session.add(row)
        await session.flush()
    else:
        found = await session.get(User, row.user_id)
        assert found is not None
        user = found
    _store_identity(ctx, row, identity, user)
    return user


async def exchange_code(
    session: AsyncSession, ctx: AppContext, code: str, code_verifier: str, ip: str | None
) -> IssuedTokens:
    """Trade a one-time code for a new device session. The code is spent even on failure.

    Refusals are `CommitThenRefuse`, so the spent code commits with them.
    """
    grant = await session.scalar(
        select(AuthorizationCode)
        .where(AuthorizationCode.code_hash == digest(code))
        .with_for_update()
    )
    if grant is None or grant.used_at is not None or grant.expires_at < utcnow():
        raise CommitThenRefuse(GrantError("The code is unknown, used or expired."))
    grant.used_at = utcnow()
    if not PKCE_VERIFIER.match(code_verifier):
        raise CommitThenRefuse(GrantError("code_verifier is malformed.", "invalid_request"))
    if not hmac.compare_digest(pkce_challenge(code_verifier), grant.code_challenge):
        raise CommitThenRefuse(GrantError("code_verifier does not match the code_challenge."))
    return await open_device_session(
        session, ctx, grant.user_id, device_name=grant.device_name, provider=grant.provider, ip=ip
    )


async def open_device_session(
    session: AsyncSession,
    ctx: AppContext,
    user_id: uuid.UUID,
    *,
    device_name: str,
    provider: str,
    ip: str | None,
) -> IssuedTokens:
    """A new device session for `user_id`, and its first tokens (a code exchange, a device
    grant). Refused (`CommitThenRefuse`, the spent code commits) for a suspended account."""
    suspended = await session.scalar(select(User.suspended_at).where(User.id == user_id))
    if suspended is not None:
        raise CommitThenRefuse(AccountSuspended())
    now = utcnow()
    device = DeviceSession(
        id=uuid.uuid4(),
        user_id=user_id,
        device_name=device_name,
        provider=provider,
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(seconds=ctx.settings.session_absolute_ttl_s),
        ip_prefix=ip_prefix(ip),
    )
    session.add(device)
    await session.flush()
    return await _issue(session, ctx, device)


async def _issue(session: AsyncSession, ctx: AppContext, device: DeviceSession) -> IssuedTokens:
    now = utcnow()
    refresh = new_opaque(REFRESH_PREFIX)
    token = RefreshToken(
        id=uuid.uuid4(),
        user_id=device.user_id,
        session_id=device.id,
        token_hash=digest(refresh),
        created_at=now,
        expires_at=min(
            now + timedelta(seconds=ctx.settings.refresh_token_ttl_s), device.expires_at
        ),
    )
    session.add(token)
    await session.flush()
    amr = ["oauth", "mfa"] if device.mfa_at is not None else ["oauth"]
    access = ctx.signer.issue(device.user_id, device.id, amr)
    return IssuedTokens(access, refresh, device.id, ctx.signer.ttl)


async def refresh(session: AsyncSession, ctx: AppContext, presented: str) -> IssuedTokens:
    """Rotate a refresh token. A used one ends its device session (theft, A4).

    Refusals are `CommitThenRefuse`, so the session's end and its audit event commit with them.
    """
    token = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == digest(presented)).with_for_update()
    )
    if token is None:
        raise CommitThenRefuse(GrantError("Unknown refresh token."))
    device = await session.scalar(
        select(DeviceSession).where(DeviceSession.id == token.session_id).with_for_update()
    )
    now = utcnow()
    if device is None or device.ended_at is not None or device.expires_at <= now:
        raise CommitThenRefuse(GrantError("The device session has ended."))
    if token.used_at is not None:
        if await _within_grace(session, ctx, token, now):
            await session.execute(
                update(RefreshToken)
                .where(RefreshToken.id == token.replaced_by_id)
                .values(used_at=now)
            )
        else:
            await end_device_session(
                session, device, EndReason.refresh_token_reuse, actor_kind=ActorKind.system
            )
            log.warning("refresh token reuse: device session ended", session_id=str(device.id))
            raise CommitThenRefuse(
                GrantError("This refresh token was already used; the session is ended.")
            )
    if token.expires_at <= now:
        raise CommitThenRefuse(GrantError("The refresh token has expired."))
    token.used_at = now
    device.last_used_at = now
    issued = await _issue(session, ctx, device)
    token.replaced_by_id = await session.scalar(
        select(RefreshToken.id).where(RefreshToken.token_hash == digest(issued.refresh_token))
    )
    return issued


async def _within_grace(
    session: AsyncSession, ctx: AppContext, token: RefreshToken, now: datetime
) -> bool:
    """Only the immediate predecessor of the live token, and only within the grace window."""
    grace = ctx.settings.refresh_reuse_grace_s
    if grace <= 0 or token.used_at is None or token.replaced_by_id is None:
        return False
    if now - token.used_at > timedelta(seconds=grace):
        return False
    successor = await session.get(RefreshToken, token.replaced_by_id, with_for_update=True)
    return successor is not None and successor.used_at is None


async def end_device_session(
    session: AsyncSession,
    device: DeviceSession,
    reason: EndReason,
    *,
    actor_kind: ActorKind,
    actor_id: uuid.UUID | None = None,
) -> None:
    """End a device session: its refresh tokens stop working and its access tokens are refused."""
    if device.ended_at is not None:
        return
    device.ended_at = utcnow()
    device.end_reason = reason.value
    await signal_session_ended(session, device.id)  # open live-log connections drop (D2)
    await record(
        session,
        f"auth.session.{reason.value}",
        actor_id=actor_id
        if actor_id is not None
        else (device.user_id if actor_kind is ActorKind.user else None),
        actor_kind=actor_kind,
        target=f"device_session:{device.id}",
        details={"user_id": str(device.user_id), "device_name": device.device_name},
    )


async def suspend_user(
    session: AsyncSession, user_id: uuid.UUID, *, actor_id: uuid.UUID, suspended: bool
) -> bool:
    """Suspend (or restore) an account, as an admin (system role). Suspending ends every live
    device session at once (their refresh tokens stop working, their access tokens are
    refused) and `open_device_session` refuses new ones until restored. Returns whether the
    account was suspended before."""
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise Problem(404, "not-found", "No such user.")
    before = user.suspended_at is not None
    user.suspended_at = utcnow() if suspended else None
    if suspended:
        now = utcnow()
        devices = await session.scalars(
            select(DeviceSession)
            .where(
                DeviceSession.user_id == user_id,
                DeviceSession.ended_at.is_(None),
                DeviceSession.expires_at > now,
            )
            .with_for_update()
        )
        for device in list(devices):
            await end_device_session(
                session, device, EndReason.suspended, actor_kind=ActorKind.admin, actor_id=actor_id
            )
    return before


# --- the signed-in user's own sessions (application role, under RLS) ------------------------


async def live_session(session: AsyncSession, session_id: uuid.UUID) -> DeviceSession | None:
    device = await session.get(DeviceSession, session_id)
    if device is None or device.ended_at is not None or device.expires_at <= utcnow():
        return None
    return device


async def list_sessions(session: AsyncSession, user_id: uuid.UUID) -> list[DeviceSession]:
    rows = await session.scalars(
        select(DeviceSession)
        .where(
            DeviceSession.user_id == user_id,
            DeviceSession.ended_at.is_(None),
            DeviceSession.expires_at > utcnow(),
        )
        .order_by(DeviceSession.created_at.desc())
    )
    return list(rows)


def ip_prefix(ip: str | None) -> str | None:
    """Only a network prefix is kept: enough to recognise a device, not to locate a person."""
    if not ip:
        return None
    import ipaddress

    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
