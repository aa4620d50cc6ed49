"""Publishing a policy version as an operator would (`offcoder policies publish`)."""

from __future__ import annotations

import uuid

from offcoder.context import AppContext
from offcoder.privacy import consent


async def published(context: AppContext, document: consent.Document) -> str:
    """A new current version of `document` (a unique name: the test database is shared)."""
    version = f"v-{uuid.uuid4().hex[:12]}"
    async with context.database.system_session() as s:
        await consent.publish(
            s, document, version, url=None, summary="Test version.", published_by="operator:test"
        )
    return version
