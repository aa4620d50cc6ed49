"""Flags on AI outputs (S2), the user's side: report one of your own outputs; and the
classifier's learned exemplars, read from the database so every replica blocks what an
upheld flag taught any of them."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.ai.models import AIFlag, AIOutput, SafetyExemplar
from offcoder.ai.safety import Category, Classifier
from offcoder.db.base import utcnow
from offcoder.problems import Conflict, NotFound

EXEMPLAR_REFRESH_S = 30.0


class ExemplarCache:
    """When this process last read the exemplars, and which it has taught its classifier."""

    def __init__(self) -> None:
        self.read_at = 0.0
        self.known: set[uuid.UUID] = set()

    def due(self) -> bool:
        return time.monotonic() - self.read_at > EXEMPLAR_REFRESH_S

    async def refresh(self, session: AsyncSession, classifier: Classifier) -> None:
        rows = await session.execute(
            select(SafetyExemplar.id, SafetyExemplar.category, SafetyExemplar.phrase)
        )
        for exemplar_id, category, phrase in rows:
            if exemplar_id not in self.known and category in Category.__members__:
                classifier.learn(Category(category), phrase)
                self.known.add(exemplar_id)
        self.read_at = time.monotonic()


async def flag_output(
    session: AsyncSession, user_id: uuid.UUID, output_id: uuid.UUID, reason: str
) -> AIFlag:
    """Report an output you received; reporting it again returns your open flag."""
    output = await session.scalar(
        select(AIOutput.id).where(AIOutput.id == output_id, AIOutput.user_id == user_id)
    )
    if output is None:
        raise NotFound("AI output")
    # Two reports at once insert one flag: the other finds it (a unique index on open flags).
    await session.execute(
        insert(AIFlag)
        .values(
            id=uuid.uuid4(),
            output_id=output_id,
            user_id=user_id,
            reason=reason,
            status="open",
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(
            index_elements=["output_id", "user_id"], index_where=AIFlag.status == "open"
        )
    )
    flag = await session.scalar(
        select(AIFlag).where(
            AIFlag.output_id == output_id, AIFlag.user_id == user_id, AIFlag.status == "open"
        )
    )
    if flag is None:  # the open flag it met was resolved in between
        raise Conflict("That output's flag was resolved just now; report it again if needed.")
    return flag
