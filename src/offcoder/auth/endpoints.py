"""Sign-in and sessions: the paths of api.md under /v1/auth."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from offcoder.audit.service import ActorKind
from offcoder.auth import device, identity_endpoints, mfa, service
from offcoder.auth.dependencies import Claims, Context, CurrentUser, UserSession
from offcoder.auth.oidc import IdentityProvider, ProviderError
from offcoder.auth.schemas import (
    AuthorizationCodeGrant,
    DeviceCodeGrant,
    DeviceCodeRequest,
    DeviceCodeResponse,
    DeviceSessionList,
    DeviceSessionOut,
    IdentityOut,
    LinkCompletion,
    LinkStart,
    LinkUrl,
    MfaToken,
    MfaVerification,
    Provider,
    ProviderList,
    RecoveryCodes,
    RefreshTokenGrant,
    SessionsEnded,
    TokenResponse,
    TotpCode,
    TotpEnrolment,
)
from offcoder.auth.service import EndReason, GrantError
from offcoder.context import AppContext
from offcoder.kit.transactions import SystemSession
from offcoder.problems import CommitThenRefuse, NotFound, Problem
from offcoder.ratelimits.dependencies import SignInLimited
from offcoder.ratelimits.service import LimitKind, client_address

router = APIRouter(prefix="/v1/auth", tags=["auth"])


def _provider(ctx: AppContext, name: str) -> IdentityProvider:
    provider = ctx.providers.get(name)
    if provider is None:
        raise NotFound("sign-in provider")
    return provider


@router.get("/providers")
async def providers(ctx: Context) -> ProviderList:
    base = ctx.settings.public_url.rstrip("/")
    return ProviderList(
        items=[
            Provider(
                name=p.name,
                display_name=p.display_name,
                authorize_url=f"{base}/v1/auth/{p.name}/authorize",
            )
            for p in ctx.providers.values()
        ]
    )


# Anonymous steps count per client address before anything else runs (review F8: each start
# writes a row). The token endpoint counts in `token_grant`, once it knows the grant's kind.
@router.get(
    "/{provider}/authorize",
    status_code=302,
    response_class=RedirectResponse,
    dependencies=[SignInLimited],
)
async def authorize(
    provider: str,
    ctx: Context,
    session: SystemSession,
    redirect_uri: Annotated[str, Query(max_length=2048)],
    state: Annotated[str, Query(min_length=1, max_length=512)],
    code_challenge: Annotated[str, Query(max_length=128)],
    code_challenge_method: Annotated[str, Query(max_length=16)] = "S256",
    device_name: Annotated[str, Query(min_length=1, max_length=100)] = "unnamed device",
) -> RedirectResponse:
    """Start a sign-in: 302 to the provider, with PKCE between the client and us."""
    chosen = _provider(ctx, provider)
    try:
        url = await service.begin_sign_in(
            session,
            ctx,
            chosen,
            redirect_uri=redirect_uri,
            client_state=state,
            code_challenge=code_challenge,
            code_challenge_method=code_challenge_method,
            device_name=device_name,
        )
    except ProviderError as exc:
        raise Problem(502, "provider-unavailable", str(exc)) from exc
    return RedirectResponse(url, status_code=302)


@router.get(
    "/{provider}/callback",
    status_code=302,
    response_class=RedirectResponse,
    dependencies=[SignInLimited],
)
async def callback(
    provider: str,
    ctx: Context,
    state: Annotated[str, Query(min_length=1, max_length=512)],
    code: Annotated[str | None, Query(max_length=2048)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
) -> RedirectResponse:
    """The provider comes back here; we send the client its one-time code."""
    chosen = _provider(ctx, provider)
    # Two transactions: the state is spent and committed before the provider is called.
    async with ctx.database.system_session() as session:
        pending = await service.take_authorization_request(session, chosen, state)
        client_redirect = pending.client_redirect_uri
        client_state = pending.client_state
    if error or not code:
        target = service.with_query(
            client_redirect, {"error": "access_denied", "state": client_state}
        )
        return RedirectResponse(target, status_code=302)
    try:
        async with ctx.database.system_session() as session:
            target = await service.finish_sign_in(session, ctx, chosen, pending, code)
    except ProviderError:
        target = service.with_query(
            client_redirect, {"error": "server_error", "state": client_state}
        )
    return RedirectResponse(target, status_code=302)


Grant = AuthorizationCodeGrant | RefreshTokenGrant | DeviceCodeGrant


async def _body(request: Request) -> dict[str, Any]:
    """A form (as OAuth client libraries send) or JSON object body; an empty body is {}."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        if content_type == "application/x-www-form-urlencoded":
            from urllib.parse import parse_qsl

            body: Any = dict(parse_qsl(raw.decode(), strict_parsing=False))
        else:
            body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise GrantError("The body must be JSON.", "invalid_request") from exc
    if not isinstance(body, dict):
        raise GrantError("The body must be a JSON object.", "invalid_request")
    return body


def _invalid(exc: ValidationError) -> GrantError:
    fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
    return GrantError(f"Missing or invalid: {fields}.", "invalid_request")


async def _grant(request: Request) -> Grant:
    body = await _body(request)
    try:
        if body.get("grant_type") == "authorization_code":
            return AuthorizationCodeGrant.model_validate(body)
        if body.get("grant_type") == "refresh_token":
            return RefreshTokenGrant.model_validate(body)
        if body.get("grant_type") == device.GRANT_TYPE:
            return DeviceCodeGrant.model_validate(body)
    except ValidationError as exc:
        raise _invalid(exc) from exc
    raise GrantError(
        f"grant_type must be authorization_code, refresh_token or {device.GRANT_TYPE}.",
        "unsupported_grant_type",
    )


async def token_grant(request: Request, ctx: Context) -> Grant:
    """The grant in the body, counted per client address in its class: a code exchange (or a
    device code poll) is a sign-in step, a refresh has a stricter limit of its own. Solved
    before the route's transaction, so a refused call opens none (a malformed body is refused,
    uncounted, at no cost to the database)."""
    grant = await _grant(request)
    kind = LimitKind.token_refresh if isinstance(grant, RefreshTokenGrant) else LimitKind.sign_in
    await ctx.rate_limits.hit(kind, client_address(request.client.host if request.client else None))
    return grant


async def device_code_request(request: Request, ctx: Context) -> DeviceCodeRequest:
    """The request's body, after it is counted per client address (each one writes a row):
    before the route's transaction, so a refused call opens none."""
    host = request.client.host if request.client else None
    await ctx.rate_limits.hit(LimitKind.device_code, client_address(host))
    try:
        return DeviceCodeRequest.model_validate(await _body(request))
    except ValidationError as exc:
        raise _invalid(exc) from exc


@router.post(
    "/device/code",
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": DeviceCodeRequest.model_json_schema()
                },
                "application/json": {"schema": DeviceCodeRequest.model_json_schema()},
            },
        }
    },
)
async def device_code(
    request: Request,
    ctx: Context,
    body: Annotated[DeviceCodeRequest, Depends(device_code_request)],
    session: SystemSession,
) -> DeviceCodeResponse:
    """Sign in a device without a browser (RFC 8628): show the person `user_code` and
    `verification_uri`, where they approve it from any signed-in browser, then poll
    `POST /v1/auth/token` with `grant_type=urn:ietf:params:oauth:grant-type:device_code`."""
    ip = request.client.host if request.client else None
    codes = await device.start(session, ctx, device_name=body.device_name, ip=ip)
    return DeviceCodeResponse.model_validate(codes.as_response(ctx.settings.public_url))


@router.post(
    "/token",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            AuthorizationCodeGrant.model_json_schema(),
                            RefreshTokenGrant.model_json_schema(),
                            DeviceCodeGrant.model_json_schema(),
                        ]
                    }
                }
            },
        }
    },
)
async def token(
    request: Request,
    ctx: Context,
    grant: Annotated[Grant, Depends(token_grant)],
    session: SystemSession,
) -> TokenResponse:
    """Exchange a one-time code (with its PKCE verifier), rotate a refresh token, or poll a
    device code (RFC 8628: `authorization_pending`, `slow_down`, `access_denied`,
    `expired_token`, then the tokens, once)."""
    ip = request.client.host if request.client else None
    # Refusals are CommitThenRefuse: a spent code or a session ended for refresh token reuse
    # stays spent and ended, a device code's poll time and slowed interval stay recorded.
    if isinstance(grant, AuthorizationCodeGrant):
        issued = await service.exchange_code(session, ctx, grant.code, grant.code_verifier, ip)
    elif isinstance(grant, DeviceCodeGrant):
        issued = await device.exchange(session, ctx, grant.device_code, ip)
    else:
        issued = await service.refresh(session, ctx, grant.refresh_token)
    return TokenResponse.model_validate(issued.as_response())


@router.post("/logout", status_code=204)
async def logout(principal: CurrentUser, session: UserSession) -> Response:
    """End the calling device session: its refresh token dies, its access token is refused."""
    device = await service.live_session(session, principal.session_id)
    if device is not None:
        await service.end_device_session(
            session, device, EndReason.logout, actor_kind=ActorKind.user, actor_id=principal.user_id
        )
    return Response(status_code=204)


@router.get("/sessions")
async def sessions(principal: CurrentUser, session: UserSession) -> DeviceSessionList:
    rows = await service.list_sessions(session, principal.user_id)
    return DeviceSessionList(
        items=[
            DeviceSessionOut(
                id=d.id,
                device_name=d.device_name,
                provider=d.provider,
                created_at=d.created_at,
                last_used_at=d.last_used_at,
                expires_at=d.expires_at,
                ip_prefix=d.ip_prefix,
                current=d.id == principal.session_id,
            )
            for d in rows
        ]
    )


@router.delete("/sessions/{session_id}", status_code=204)
async def end_session(
    session_id: uuid.UUID, principal: CurrentUser, session: UserSession
) -> Response:
    device = await service.live_session(session, session_id)
    if device is None:
        raise NotFound("session")
    await service.end_device_session(
        session, device, EndReason.revoked, actor_kind=ActorKind.user, actor_id=principal.user_id
    )
    return Response(status_code=204)


@router.post("/sessions/revoke-others")
async def end_other_sessions(principal: CurrentUser, session: UserSession) -> SessionsEnded:
    """Sign out everywhere else: every live device session of yours but the calling one ends
    (their refresh tokens die, their access tokens are refused)."""
    ended = 0
    for other in await service.list_sessions(session, principal.user_id):
        if other.id == principal.session_id:
            continue
        await service.end_device_session(
            session,
            other,
            EndReason.revoked,
            actor_kind=ActorKind.user,
            actor_id=principal.user_id,
        )
        ended += 1
    return SessionsEnded(ended=ended)


# --- second factor (A5) -----------------------------------------------------------------------
# A failed attempt is a CommitThenRefuse: it is counted and audited even though the answer is
# an error.


@router.post("/mfa/totp", status_code=201)
async def mfa_enrol(principal: CurrentUser, session: UserSession, ctx: Context) -> TotpEnrolment:
    """Start TOTP enrolment: a new secret for your authenticator app (shown once)."""
    enrolment = await mfa.enrol(session, ctx, principal.user_id)
    return TotpEnrolment(secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri)


@router.post("/mfa/totp/confirm")
async def mfa_confirm(
    body: TotpCode, principal: CurrentUser, session: UserSession, ctx: Context
) -> RecoveryCodes:
    """The first code from the app turns the factor on; the answer holds the recovery codes."""
    codes = await mfa.confirm(session, ctx, principal.user_id, body.code)
    return RecoveryCodes(recovery_codes=codes)


async def mfa_verify_limit(claims: Claims, ctx: Context) -> None:
    """Second-factor attempts per user, before the factor's row is locked for the attempt."""
    await ctx.rate_limits.hit(LimitKind.mfa_verify, str(claims.user_id))


@router.post("/mfa/verify", dependencies=[Depends(mfa_verify_limit)])
async def mfa_verify(
    body: MfaVerification, principal: CurrentUser, session: UserSession, ctx: Context
) -> MfaToken:
    """Prove the second factor for this device session: an access token with `amr: ["mfa"]`."""
    token = await mfa.verify(
        session,
        ctx,
        principal.user_id,
        principal.session_id,
        code=body.code,
        recovery_code=body.recovery_code,
    )
    return MfaToken(access_token=token, expires_in=ctx.settings.access_token_ttl_s)


# --- linking another provider from a signed-in session (A2) -----------------------------------

link_router = APIRouter(prefix="/v1/me", tags=["me"])
link_router.include_router(identity_endpoints.router)  # listing and unlinking


@link_router.post("/identities/{provider}")
async def start_link(
    provider: str, body: LinkStart, principal: CurrentUser, ctx: Context, session: SystemSession
) -> LinkUrl:
    """Link another provider to your account, step 1: sign in there with the returned URL.

    The browser comes back to `redirect_uri` with a one-time link code; nothing is linked until
    you redeem it at `/v1/me/identities/{provider}/complete`."""
    chosen = _provider(ctx, provider)
    try:
        url = await service.begin_link(
            session,
            ctx,
            chosen,
            user_id=principal.user_id,
            redirect_uri=body.redirect_uri,
            client_state=body.state,
            code_challenge=body.code_challenge,
            code_challenge_method=body.code_challenge_method,
        )
    except ProviderError as exc:
        raise Problem(502, "provider-unavailable", str(exc)) from exc
    return LinkUrl(authorize_url=url)


@link_router.post(
    "/identities/{provider}/complete",
    status_code=201,
    responses={200: {"description": "The identity already signed in to your account."}},
)
async def complete_link(
    provider: str,
    body: LinkCompletion,
    claims: Claims,
    ctx: Context,
    session: SystemSession,
    response: Response,
) -> IdentityOut:
    """Link another provider to your account, step 2: the link code and the PKCE verifier.

    Only the account that started the link redeems its code, once (400 `invalid_grant`
    otherwise); an identity another account signs in with is refused (409). Any request that
    gets here spends the code, whatever the answer (even 401 for an ended session, or 404)."""
    unknown = provider not in ctx.providers
    # Refusals are CommitThenRefuse: a code presented once stays spent.
    try:
        linked = await service.complete_link(
            session, claims, provider, body.code, body.code_verifier
        )
    except CommitThenRefuse:
        if not unknown:
            raise
    if unknown:
        # 404 for an unknown provider whatever the code was, and the spend still commits.
        raise CommitThenRefuse(NotFound("sign-in provider"))
    if not linked.created:
        response.status_code = 200
    return IdentityOut.model_validate(linked.identity)
