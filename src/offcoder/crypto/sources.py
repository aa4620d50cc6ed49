"""Choosing the key source from settings, and the development convenience of a generated one."""

from __future__ import annotations

from pathlib import Path

import structlog

from offcoder.config import Settings
from offcoder.crypto.keyring import EnvKeySource, FileKeySource, KeySource, generate_keyset

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
