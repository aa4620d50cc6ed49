"""The AI-flag review queue (S2, O3): admins with the safety role list and read flags and
resolve them (uphold or dismiss, with a note); every resolution is audited in the transaction
that makes it, and an upheld flag may teach the classifier an exemplar that blocks that class
of output from then on, on every replica."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator
from sqlalchemy import select

from offcoder.admin.auth import SafetyAdmin, SystemSession
from offcoder.ai.models import AIFlag, AIOutput, SafetyExemplar
from offcoder.ai.safety import Category, fold
from offcoder.audit.service import ActorKind, record
from offcoder.auth.dependencies import Context
from offcoder.db.base import utcnow
from offcoder.problems import Conflict, NotFound

router = APIRouter(prefix="/v1/admin/ai", tags=["admin"])


class FlagOut(BaseModel):
    id: uuid.UUID
    output_id: uuid.UUID
    user_id: uuid.UUID
    reason: str
    status: str
    resolution_note: str | None
    resolved_at: datetime | None
    created_at: datetime


class FlagDetail(FlagOut):
    provider: str
    model: str
    output: str


class FlagList(BaseModel):
    items: list[FlagOut]


class Exemplar(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: Category
    phrase: StrictStr = Field(min_length=8, max_length=500)

    @field_validator("phrase")
    @classmethod
    def long_enough_once_folded(cls, phrase: str) -> str:
        # The classifier matches the folded phrase (case, spacing, look-alikes undone); one
        # that folds to almost nothing would be stored and audited but never match.
        if len(fold(phrase)) < 8:
            raise ValueError("the phrase must keep at least 8 characters once normalised")
        return phrase


class Resolution(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["uphold", "dismiss"]
    note: StrictStr = Field(min_length=1, max_length=2000)
    exemplar: Exemplar | None = Field(
        default=None, description="Upheld only: a phrase that blocks this class of output"
    )


def flag_out(flag: AIFlag) -> FlagOut:
    return FlagOut.model_validate(flag, from_attributes=True)


@router.get("/flags")
async def list_flags(
    admin: SafetyAdmin,
    session: SystemSession,
    status: Annotated[Literal["open", "upheld", "dismissed"], Query()] = "open",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> FlagList:
    """The review queue, oldest first."""
    flags = list(
        await session.scalars(
            select(AIFlag).where(AIFlag.status == status).order_by(AIFlag.created_at).limit(limit)
        )
    )
    await record(
        session,
        "admin.ai_flags.list",
        actor_id=admin.user_id,
        actor_kind=ActorKind.admin,
        target="ai_flags",
        details={"status": status, "count": len(flags)},
    )
    return FlagList(items=[flag_out(f) for f in flags])


@router.get("/flags/{flag_id}")
async def view_flag(flag_id: uuid.UUID, admin: SafetyAdmin, session: SystemSession) -> FlagDetail:
    """One flag with the output it reports (reading it is audited)."""
    flag = await session.get(AIFlag, flag_id)
    if flag is None:
        raise NotFound("flag")
    output = await session.get_one(AIOutput, flag.output_id)
    await record(
        session,
        "admin.ai_flag.viewed",
        actor_id=admin.user_id,
        actor_kind=ActorKind.admin,
        target=f"ai_flag:{flag.id}",
    )
    return FlagDetail(
        **flag_out(flag).model_dump(),
        provider=output.provider,
        model=output.model,
        output=output.content,
    )


@router.post("/flags/{flag_id}/resolve")
async def resolve_flag(
    flag_id: uuid.UUID, body: Resolution, admin: SafetyAdmin, ctx: Context
) -> FlagOut:
    """Uphold or dismiss, with a note; an upheld flag may add an exemplar to the filters."""
    # Its own transaction: the classifier learns the exemplar only once it is committed.
    async with ctx.database.system_session() as session:
        flag = await session.get(AIFlag, flag_id, with_for_update=True)
        if flag is None:
            raise NotFound("flag")
        if flag.status != "open":
            raise Conflict(f"This flag was already resolved ({flag.status}).")
        if body.exemplar is not None and body.decision != "uphold":
            raise Conflict("Only an upheld flag can teach the filters an exemplar.")
        flag.status = "upheld" if body.decision == "uphold" else "dismissed"
        flag.resolution_note = body.note
        flag.resolved_by = admin.user_id
        flag.resolved_at = utcnow()
        details: dict[str, object] = {"decision": body.decision, "note": body.note}
        if body.exemplar is not None:
            exemplar_id = uuid.uuid4()
            session.add(
                SafetyExemplar(
                    id=exemplar_id,
                    category=body.exemplar.category.value,
                    phrase=body.exemplar.phrase,
                    flag_id=flag.id,
                    created_by=admin.user_id,
                    created_at=utcnow(),
                )
            )
            details |= {"exemplar_id": str(exemplar_id), "category": body.exemplar.category}
        await record(
            session,
            f"admin.ai_flag.{flag.status}",
            actor_id=admin.user_id,
            actor_kind=ActorKind.admin,
            target=f"ai_flag:{flag.id}",
            details=details,
        )
    if body.exemplar is not None:
        # This replica at once; the others within their refresh interval.
        ctx.safety.offline.learn(body.exemplar.category, body.exemplar.phrase)
    return flag_out(flag)
