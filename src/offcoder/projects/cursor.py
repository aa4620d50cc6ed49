"""Opaque keyset cursors for listings (`{"items", "next_cursor"}`).

A cursor is the sort key of the last item a page returned, tagged with the listing it belongs
to, as unpadded base64url JSON. It carries no authority: the query it feeds is scoped to the
caller like any other, so a forged cursor can only skip rows the caller could already read.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from offcoder.problems import InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def encode(kind: str, key: list[Any]) -> str:
    doc = json.dumps({"k": kind, "v": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(doc).rstrip(b"=").decode("ascii")


def decode(kind: str, cursor: str, arity: int) -> list[Any]:
    """The key inside `cursor`; 422 when it is not a cursor of this listing."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        doc = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise bad_cursor() from exc
    if not isinstance(doc, dict) or doc.get("k") != kind:
        raise bad_cursor()
    key = doc.get("v")
    if not isinstance(key, list) or len(key) != arity or not all(isinstance(v, str) for v in key):
        raise bad_cursor()
    return key


def bad_cursor() -> InvalidInput:
    return InvalidInput("The cursor is not valid for this listing.")
