"""Consent to the published policies (V3).

Operators publish versions of documents (`offcoder policies publish`); the newest version of
each document is current. A user has consented to a document when they accepted its current
version and have not withdrawn that acceptance. A new version therefore asks again, without
touching older rows. Acceptances and withdrawals are audited in the same transaction.

With no version published (a fresh install, a development server) nobody is asked anything:
there is nothing to agree to.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.audit.service import ActorKind, record
from offcoder.db.base import utcnow
from offcoder.privacy.models import Consent, PolicyVersion
from offcoder.problems import Conflict, NotFound


class Document(StrEnum):
    terms = "terms"
    privacy = "privacy"


async def current_versions(session: AsyncSession) -> list[PolicyVersion]:
    """The newest published version of each document, in document order."""
    # A handful of rows per document over the service's life: picked here, not in SQL.
    newest: dict[str, PolicyVersion] = {}
    for row in await session.scalars(select(PolicyVersion).order_by(PolicyVersion.published_at)):
        newest[row.document] = row
    return [newest[d] for d in sorted(newest)]


async def history(session: AsyncSession, user_id: uuid.UUID) -> list[Consent]:
    """Every acceptance of the user, withdrawn ones included, newest first."""
    rows = await session.scalars(
        select(Consent).where(Consent.user_id == user_id).order_by(Consent.accepted_at.desc())
    )
    return list(rows)


async def missing(session: AsyncSession, user_id: uuid.UUID) -> list[PolicyVersion]:
    """Current versions the user has not accepted (or has withdrawn): what to ask for."""
    current = await current_versions(session)
    if not current:
        return []
    held = {
        (c.document, c.version)
        for c in await session.scalars(
            select(Consent).where(Consent.user_id == user_id, Consent.withdrawn_at.is_(None))
        )
    }
    return [v for v in current if (v.document, v.version) not in held]


async def accept(session: AsyncSession, user_id: uuid.UUID, document: str, version: str) -> Consent:
    """Record acceptance of the current version (once: accepting it again returns the
    standing acceptance). An older version cannot be accepted: it is no longer what applies."""
    current = {v.document: v for v in await current_versions(session)}
    if document not in current:
        raise NotFound("published policy document")
    if current[document].version != version:
        raise Conflict(
            f"Version {version} of the {document} document is not the current one "
            f"({current[document].version}); reload and accept the current version."
        )
    standing = await session.scalar(
        select(Consent).where(
            Consent.user_id == user_id,
            Consent.document == document,
            Consent.version == version,
            Consent.withdrawn_at.is_(None),
        )
    )
    if standing is not None:
        return standing
    consent = Consent(user_id=user_id, document=document, version=version, accepted_at=utcnow())
    session.add(consent)
    await session.flush()
    await record(
        session,
        "consent.accepted",
        actor_id=user_id,
        actor_kind=ActorKind.user,
        target=f"user:{user_id}",
        details={"document": document, "version": version, "consent_id": str(consent.id)},
    )
    return consent


async def withdraw(session: AsyncSession, user_id: uuid.UUID, document: str) -> list[Consent]:
    """Withdraw every standing acceptance of `document`; the rows stay with the time."""
    now = utcnow()
    standing = list(
        await session.scalars(
            select(Consent).where(
                Consent.user_id == user_id,
                Consent.document == document,
                Consent.withdrawn_at.is_(None),
            )
        )
    )
    if not standing:
        raise NotFound("standing consent to that document")
    for consent in standing:
        consent.withdrawn_at = now
        await record(
            session,
            "consent.withdrawn",
            actor_id=user_id,
            actor_kind=ActorKind.user,
            target=f"user:{user_id}",
            details={"document": document, "version": consent.version},
        )
    return standing


async def publish(
    session: AsyncSession,
    document: Document,
    version: str,
    *,
    url: str | None,
    summary: str | None,
    published_by: str,
) -> PolicyVersion:
    """An operator publishes a new version: it becomes current, and everyone is asked again."""
    exists = await session.scalar(
        select(PolicyVersion).where(
            PolicyVersion.document == document.value, PolicyVersion.version == version
        )
    )
    if exists is not None:
        raise Conflict(f"Version {version} of {document.value} is already published.")
    published = PolicyVersion(
        document=document.value,
        version=version,
        url=url,
        summary=summary,
        published_at=utcnow(),
        published_by=published_by,
    )
    session.add(published)
    await session.flush()
    await record(
        session,
        "policy.published",
        actor_id=None,
        actor_kind=ActorKind.operator,
        target=f"policy:{document.value}",
        details={"version": version, "by": published_by},
    )
    return published
