"""Consent API (V3): the current policy versions, the caller's acceptances and withdrawals.
Mounted by main.py next to the `/v1/me` router."""

from __future__ import annotations

from fastapi import APIRouter

from offcoder.auth.dependencies import CurrentUser, UserSession
from offcoder.privacy import consent
from offcoder.privacy.schemas import (
    ConsentAccept,
    ConsentOut,
    ConsentState,
    PolicyList,
    PolicyVersionOut,
)

router = APIRouter(prefix="/v1", tags=["me"])


async def _state(session: UserSession, principal: CurrentUser) -> ConsentState:
    user_id = principal.user_id
    return ConsentState(
        current=[
            PolicyVersionOut.model_validate(v) for v in await consent.current_versions(session)
        ],
        missing=[
            PolicyVersionOut.model_validate(v) for v in await consent.missing(session, user_id)
        ],
        consents=[ConsentOut.model_validate(c) for c in await consent.history(session, user_id)],
    )


@router.get("/policies")
async def policies(principal: CurrentUser, session: UserSession) -> PolicyList:
    """The current (newest published) version of each policy document."""
    return PolicyList(
        items=[PolicyVersionOut.model_validate(v) for v in await consent.current_versions(session)]
    )


@router.get("/me/consents")
async def my_consents(principal: CurrentUser, session: UserSession) -> ConsentState:
    """The current versions, those the caller still has to accept (`missing`), and every
    acceptance with its time, version and withdrawal time."""
    return await _state(session, principal)


@router.post("/me/consents", status_code=201)
async def accept(body: ConsentAccept, principal: CurrentUser, session: UserSession) -> ConsentState:
    """Accept the current version of a document (409 for any other version; audited)."""
    await consent.accept(session, principal.user_id, body.document.value, body.version)
    return await _state(session, principal)


@router.delete("/me/consents/{document}")
async def withdraw(
    document: consent.Document, principal: CurrentUser, session: UserSession
) -> ConsentState:
    """Withdraw the standing acceptance of a document (audited). The console then asks again
    before any page but the account page (decision 0035)."""
    await consent.withdraw(session, principal.user_id, document.value)
    return await _state(session, principal)
