"""Admin roles for test users, granted as an operator would (audited)."""

from __future__ import annotations

import uuid

from offcoder.admin.roles import Role, grant
from offcoder.context import AppContext


async def granted(context: AppContext, who: uuid.UUID, role: Role) -> None:
    async with context.database.system_session() as s:
        await grant(s, str(who), role, "operator:test")
