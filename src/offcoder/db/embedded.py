"""The embedded PostgreSQL (pgserver): the default when DATABASE_URL is not set."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any


def start_embedded(data_dir: Path, *, cleanup: str | None = "stop") -> tuple[Any, str]:
    """Start (or attach to) the embedded server under `data_dir`; return it and its admin URL.

    The handle must stay referenced for as long as the server is needed: pgserver stops the
    server when the last handle is released (cleanup "stop").
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir, cleanup_mode=cleanup)
    uri: str = server.get_uri()
    return server, uri
