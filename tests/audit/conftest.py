from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from offcoder.config import Settings
from offcoder.db.bootstrap import PreparedDatabase
from tests.support.scratch import ScratchDatabase, scratch_database


@pytest.fixture(scope="session")
async def audit_db(
    settings: Settings, prepared: PreparedDatabase
) -> AsyncIterator[ScratchDatabase]:
    async with scratch_database(settings, prepared, "audit") as scratch:
        yield scratch
