from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from offcoder.config import Settings
from offcoder.db.bootstrap import PreparedDatabase
from tests.support.scratch import ScratchDatabase, scratch_database


@pytest.fixture(scope="session")
async def keys_db(settings: Settings, prepared: PreparedDatabase) -> AsyncIterator[ScratchDatabase]:
    """Rotation re-seals every row of a database: it gets one of its own."""
    async with scratch_database(settings, prepared, "keys") as scratch:
        yield scratch
