"""Choosing the key source from settings, and the development convenience of a generated one."""

from __future__ import annotations

from pathlib import Path

import structlog

from offcoder.config import Settings
from offcoder.crypto.datakeys import FileDataKeyStore
from offcoder.crypto.keyring import (
    EnvKeySource,
    FileKeySource,
    Keyring,
    KeySource,
    generate_keyset,
)

log = structlog.get_logger(__name__)


def generated_key_file(settings: Settings) -> Path:
    return settings.state_dir / "keys.json"


def key_source(settings: Settings, *, create: bool = True) -> KeySource:
    """OFFCODER_KEYS, else OFFCODER_KEY_FILE, else (development) a key file in the state dir."""
    if settings.keys is not None:
        return EnvKeySource(settings.keys.get_secret_value())
    if settings.key_file is not None:
        return FileKeySource(settings.key_file)
    source = FileKeySource(generated_key_file(settings))
    if create and not source.path.exists():
        source.store(generate_keyset())
        log.warning("generated a development key file", path=str(source.path))
    return source


def data_key_store(settings: Settings) -> FileDataKeyStore:
    """Where each user's wrapped data key is kept: OFFCODER_DATA_KEY_DIR, else the state dir."""
    return FileDataKeyStore(settings.data_key_dir or settings.state_dir / "data-keys")


def server_keyring(settings: Settings, source: KeySource | None = None) -> Keyring:
    """The keyring every process seals with: the key set, and the users' data keys under it."""
    source = source if source is not None else key_source(settings)
    return Keyring.from_source(source, data_keys=data_key_store(settings))
