"""Publishing policy versions as an operator would (`offcoder policies publish`), for one test.

The test database is shared by the whole run, and a published version makes every console page
ask every user for consent first. So the versions a test publishes are taken back when it ends:
the other tests keep running on a server with no policy published (the default of a fresh
install), and sign in straight to their projects."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import delete

from offcoder.context import AppContext
from offcoder.privacy import consent
from offcoder.privacy.models import PolicyVersion


class PolicyDesk:
    def __init__(self, context: AppContext) -> None:
        self.context = context
        self.ids: list[uuid.UUID] = []

    async def publish(self, document: consent.Document, *, url: str | None = None) -> str:
        """A new current version of `document`, with a unique name."""
        version = f"v-{uuid.uuid4().hex[:12]}"
        async with self.context.database.system_session() as s:
            row = await consent.publish(
                s,
                document,
                version,
                url=url,
                summary="What changed, in a sentence.",
                published_by="operator:test",
            )
            self.ids.append(row.id)
        return version


@asynccontextmanager
async def policy_desk(context: AppContext) -> AsyncIterator[PolicyDesk]:
    desk = PolicyDesk(context)
    try:
        yield desk
    finally:
        async with context.database.system_session() as s:
            await s.execute(delete(PolicyVersion).where(PolicyVersion.id.in_(desk.ids)))
