"""What a worker process holds, and nothing more."""

from __future__ import annotations

from dataclasses import dataclass

from offcoder.config import Settings
from offcoder.crypto.keyring import Keyring
from offcoder.crypto.sources import server_keyring
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.db.engine import Database
from offcoder.logs import mask_configured_secrets


@dataclass
class WorkerContext:
    settings: Settings
    database: Database
    keyring: Keyring

    @classmethod
    def build(cls, settings: Settings, prepared: PreparedDatabase) -> WorkerContext:
        """A worker's own context: the database and the keyring, built once at start."""
        mask_configured_secrets(settings, prepared.app_url.password)
        return cls(
            settings=settings,
            database=prepared.open(settings.db_pool_size),
            keyring=server_keyring(settings),
        )

    async def close(self) -> None:
        await self.database.dispose()
