"""WebAuthn for the dashboard (A5) through py_webauthn: registering a security key or passkey
(only in a session that already proved a factor) and proving it as the second factor.

The relying party is the dashboard's own host (`admin_base_url`); the expected origin is that
URL. One ceremony at a time per dashboard session: its challenge is kept on the session row
and spent by the verification, whatever its outcome.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from offcoder.admin.dashboard.models import AdminSession, WebAuthnCredential
from offcoder.config import Settings
from offcoder.db.base import utcnow


class WebAuthnRefused(Exception):
    """The browser's answer did not verify; the sentence says so."""


def rp_id(settings: Settings) -> str:
    return urlsplit(settings.admin_base_url).hostname or "localhost"


async def _credentials(session: AsyncSession, user_id: uuid.UUID) -> list[WebAuthnCredential]:
    return list(
        await session.scalars(
            select(WebAuthnCredential).where(WebAuthnCredential.user_id == user_id)
        )
    )


async def has_credentials(session: AsyncSession, user_id: uuid.UUID) -> bool:
    return bool(await _credentials(session, user_id))


async def registration_options(
    session: AsyncSession, settings: Settings, row: AdminSession, user_name: str
) -> dict[str, Any]:
    existing = await _credentials(session, row.user_id)
    options = generate_registration_options(
        rp_id=rp_id(settings),
        rp_name="OffCoder admin",
        user_name=user_name,
        user_id=row.user_id.bytes,
        exclude_credentials=[PublicKeyCredentialDescriptor(id=c.credential_id) for c in existing],
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
    )
    row.webauthn_challenge = options.challenge
    parsed: dict[str, Any] = json.loads(options_to_json(options))
    return parsed


async def register(
    session: AsyncSession, settings: Settings, row: AdminSession, credential: dict[str, Any]
) -> WebAuthnCredential:
    challenge, row.webauthn_challenge = row.webauthn_challenge, None
    if challenge is None:
        raise WebAuthnRefused("Start adding the key again.")
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id(settings),
            expected_origin=settings.admin_base_url,
        )
    except InvalidRegistrationResponse as error:
        raise WebAuthnRefused("The key's answer did not verify; try again.") from error
    stored = WebAuthnCredential(
        user_id=row.user_id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name="Security key",
        created_at=utcnow(),
    )
    session.add(stored)
    await session.flush()
    return stored


async def authentication_options(
    session: AsyncSession, settings: Settings, row: AdminSession
) -> dict[str, Any]:
    existing = await _credentials(session, row.user_id)
    if not existing:
        raise WebAuthnRefused("This account has no security key yet.")
    options = generate_authentication_options(
        rp_id=rp_id(settings),
        allow_credentials=[PublicKeyCredentialDescriptor(id=c.credential_id) for c in existing],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    row.webauthn_challenge = options.challenge
    parsed: dict[str, Any] = json.loads(options_to_json(options))
    return parsed


async def authenticate(
    session: AsyncSession, settings: Settings, row: AdminSession, credential: dict[str, Any]
) -> WebAuthnCredential:
    challenge, row.webauthn_challenge = row.webauthn_challenge, None
    if challenge is None:
        raise WebAuthnRefused("Start again.")
    raw_id = str(credential.get("rawId") or credential.get("id") or "")
    from webauthn.helpers import base64url_to_bytes

    try:
        wanted = base64url_to_bytes(raw_id)
    except ValueError as error:
        raise WebAuthnRefused("The key's answer did not verify; try again.") from error
    stored = await session.scalar(
        select(WebAuthnCredential)
        .where(
            WebAuthnCredential.user_id == row.user_id,
            WebAuthnCredential.credential_id == wanted,
        )
        .with_for_update()
    )
    if stored is None:
        raise WebAuthnRefused("That key is not registered to this account.")
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id(settings),
            expected_origin=settings.admin_base_url,
            credential_public_key=stored.public_key,
            credential_current_sign_count=stored.sign_count,
        )
    except InvalidAuthenticationResponse as error:
        raise WebAuthnRefused("The key's answer did not verify; try again.") from error
    stored.sign_count, stored.last_used_at = verified.new_sign_count, utcnow()
    return stored
