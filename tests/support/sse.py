"""Server-sent events as the AI chat stream answers them, parsed for assertions."""

from __future__ import annotations

import json
from typing import Any


def events(body: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        found.append((lines["event"], json.loads(lines["data"])))
    return found
