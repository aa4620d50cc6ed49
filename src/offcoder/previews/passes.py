"""How a browser gets into a private preview (C7): a ticket, then a session, both passes.

A preview host is another site than the console's (a separate registrable domain), so the
console's cookies never reach it, and it must not take them. A browser without a preview session
is sent to the console's origin, where its console sign-in tells who it is; for the project's
owner the console mints a **ticket** (one minute, one use, this project only) and sends the
browser back to the preview host with it in the URL; the edge spends it for a **session** (a
host-only cookie, 12 hours) and redirects to the same path without the ticket. Each pass is
`<id>.<secret>`: the row is found by id, the secret compared by hash in constant time, and only
the hash is stored. Passes are checked on every request against the project's current owner, so
a transferred or deleted project's passes open nothing; deleting the rows revokes them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import delete, select, update

from offcoder.db.base import utcnow
from offcoder.db.engine import Database
from offcoder.previews.models import PreviewPass, PreviewShare
from offcoder.projects.models import Project

TICKET_TTL = timedelta(minutes=1)
SESSION_TTL = timedelta(hours=12)
LINK_MAX_TTL = timedelta(days=30)


class PassKind(StrEnum):
    ticket = "ticket"
    session = "session"
    link = "link"  # a share link: many uses until it expires or its owner revokes it


class ShareLevel(StrEnum):
    """Who may open a preview of a port (`PreviewShare`); `owner` when nothing was set."""

    owner = "owner"
    authenticated = "authenticated"  # anyone signed in to OffCoder
    public = "public"  # anyone, after a page saying the content is the job's, not ours


class Refusal(StrEnum):
    """Why a pass opens nothing; each has its own page (previews/pages.py)."""

    expired = "expired"  # a ticket past its minute, or spent: the link has to be opened again
    forbidden = "forbidden"  # not the project's owner, or not a pass at all


@dataclass(frozen=True)
class Admitted:
    user_id: uuid.UUID
    project_id: uuid.UUID


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _split(token: str) -> tuple[uuid.UUID, str] | None:
    pass_id, _, secret = token.partition(".")
    try:
        parsed = uuid.UUID(pass_id)
    except ValueError:
        return None
    return (parsed, secret) if secret and len(secret) <= 128 else None


async def _issue(
    database: Database,
    kind: PassKind,
    user_id: uuid.UUID,
    project_id: uuid.UUID,
    *,
    ttl: timedelta | None = None,
    link: PreviewPass | None = None,
    port: int | None = None,
) -> tuple[PreviewPass, str]:
    secret = secrets.token_urlsafe(32)
    lifetime = ttl or (TICKET_TTL if kind is PassKind.ticket else SESSION_TTL)
    expires = utcnow() + lifetime
    if link is not None:
        expires = min(expires, link.expires_at)  # a link's session ends with the link
    row = PreviewPass(
        id=uuid.uuid4(),
        kind=kind.value,
        secret_sha256=_digest(secret),
        user_id=user_id,
        project_id=project_id,
        link_id=link.id if link is not None else None,
        port=port,
        expires_at=expires,
        used_at=None,
    )
    async with database.system_session() as system:
        system.add(row)
    return row, f"{row.id}.{secret}"


async def share_level(database: Database, project_id: uuid.UUID, port: int) -> ShareLevel:
    async with database.system_session() as system:
        level = await system.scalar(
            select(PreviewShare.level).where(
                PreviewShare.project_id == project_id, PreviewShare.port == port
            )
        )
    return ShareLevel(level) if level else ShareLevel.owner


async def create_link(
    database: Database, user_id: uuid.UUID, project_id: uuid.UUID, port: int, ttl: timedelta
) -> tuple[PreviewPass, str]:
    """A share link's pass (the caller checked the project is the user's, under RLS)."""
    return await _issue(
        database, PassKind.link, user_id, project_id, ttl=min(ttl, LINK_MAX_TTL), port=port
    )


async def links(database: Database, project_id: uuid.UUID, port: int) -> list[PreviewPass]:
    async with database.system_session() as system:
        rows = await system.scalars(
            select(PreviewPass)
            .where(
                PreviewPass.project_id == project_id,
                PreviewPass.kind == PassKind.link.value,
                PreviewPass.port == port,
            )
            .order_by(PreviewPass.created_at.desc())
        )
        return list(rows)


async def revoke_link(database: Database, project_id: uuid.UUID, link_id: uuid.UUID) -> bool:
    """Delete a share link, and with it every session it opened; false if there was none."""
    async with database.system_session() as system:
        gone = await system.scalar(
            delete(PreviewPass)
            .where(
                PreviewPass.id == link_id,
                PreviewPass.project_id == project_id,
                PreviewPass.kind == PassKind.link.value,
            )
            .returning(PreviewPass.id)
        )
    return gone is not None


async def follow_link(database: Database, token: str, project_id: uuid.UUID) -> str | Refusal:
    """A session for whoever holds a live share link of this project."""
    link = await _find(database, token, PassKind.link)
    if link is None or link.project_id != project_id:
        return Refusal.forbidden
    if link.expires_at <= utcnow():
        return Refusal.expired
    _, session = await _issue(database, PassKind.session, link.user_id, project_id, link=link)
    return session


async def mint_ticket(database: Database, user_id: uuid.UUID, project_id: uuid.UUID) -> str:
    """A ticket for `user_id` into `project_id`'s preview: its owner (the caller checked it
    under their RLS) or, for a shared preview, anyone signed in."""
    _, ticket = await _issue(database, PassKind.ticket, user_id, project_id)
    return ticket


async def _find(database: Database, token: str, kind: PassKind) -> PreviewPass | None:
    parts = _split(token)
    if parts is None:
        return None
    pass_id, secret = parts
    async with database.system_session() as system:
        row = await system.get(PreviewPass, pass_id)
    if row is None or row.kind != kind.value:
        return None
    if not hmac.compare_digest(row.secret_sha256, _digest(secret)):
        return None
    return row


async def _owner(database: Database, project_id: uuid.UUID) -> uuid.UUID | None:
    async with database.system_session() as system:
        return await system.scalar(select(Project.user_id).where(Project.id == project_id))


async def spend_ticket(
    database: Database, token: str, project_id: uuid.UUID, level: ShareLevel = ShareLevel.owner
) -> str | Refusal:
    """A session for the ticket's holder on `project_id`'s preview, or why not. A ticket is
    spent by its first use, right project or not."""
    row = await _find(database, token, PassKind.ticket)
    if row is None:
        return Refusal.forbidden
    async with database.system_session() as system:
        spent = await system.scalar(
            update(PreviewPass)
            .where(PreviewPass.id == row.id, PreviewPass.used_at.is_(None))
            .values(used_at=utcnow())
            .returning(PreviewPass.id)
        )
    if spent is None or row.expires_at <= utcnow():
        return Refusal.expired
    if row.project_id != project_id:
        return Refusal.forbidden
    if level is ShareLevel.owner and await _owner(database, project_id) != row.user_id:
        return Refusal.forbidden
    _, session = await _issue(database, PassKind.session, row.user_id, project_id)
    return session


async def admit(
    database: Database, token: str, project_id: uuid.UUID, level: ShareLevel = ShareLevel.owner
) -> Admitted | Refusal:
    """Who a session cookie lets into `project_id`'s preview, checked now: the session is
    live and for this project, and either came from a live share link (a revoked link's
    sessions are gone with it), or its user still owns the project, or the preview is shared
    with everyone signed in."""
    row = await _find(database, token, PassKind.session)
    if row is None or row.project_id != project_id:
        return Refusal.forbidden
    if row.expires_at <= utcnow():
        return Refusal.expired
    if (
        row.link_id is None
        and level is ShareLevel.owner
        and await _owner(database, project_id) != row.user_id
    ):
        return Refusal.forbidden
    return Admitted(user_id=row.user_id, project_id=project_id)
