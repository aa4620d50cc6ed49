"""The ledger tests' database: its own pool, large enough that concurrent posts really run at
once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from offcoder.db.bootstrap import PreparedDatabase
from offcoder.db.engine import Database


@pytest.fixture(scope="module")
async def db(prepared: PreparedDatabase) -> AsyncIterator[Database]:
    database = prepared.open(pool_size=25)
    yield database
    await database.dispose()
