"""Writing to the audit log (O3). Hashing and ordering happen in the database trigger."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.audit.models import AuditEvent
from offcoder.requestctx import current_request_id


class ActorKind(StrEnum):
    user = "user"
    admin = "admin"
    system = "system"
    operator = "operator"  # a person at the command line (offcoder keys rotate, ...)


async def record(
    session: AsyncSession,
    action: str,
    *,
    actor_id: uuid.UUID | None,
    actor_kind: ActorKind,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one event in the caller's transaction: it exists only if that transaction commits.

    A plain INSERT without RETURNING: the application role may append but never read the log.
    """
    await session.execute(
        insert(AuditEvent).values(
            id=uuid.uuid4(),
            actor_id=actor_id,
            actor_kind=actor_kind.value,
            action=action,
            target=target,
            request_id=current_request_id(),
            details=details or {},
        )
    )
