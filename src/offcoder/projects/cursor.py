"""The listings' cursor codec by kind name, for callers not yet on `kit.pagination.Keyset`.

`wallet/service.history` still encodes its ledger cursor here; it is the same codec as every
`Keyset` (one format), so its cursors stay valid when it moves.
"""

from __future__ import annotations

from typing import Any

from offcoder.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, TEXT, Keyset, bad_cursor

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "bad_cursor", "decode", "encode"]


def _as_text(key: list[Any]) -> tuple[Any, ...]:
    return tuple(key)


def encode(kind: str, key: list[Any]) -> str:
    """The cursor of `kind` holding `key` (strings)."""
    return Keyset(kind, (TEXT,) * len(key), _as_text).cursor(key)


def decode(kind: str, cursor: str, arity: int) -> list[Any]:
    """The key inside `cursor`; 422 when it is not a cursor of this listing."""
    key = Keyset(kind, (TEXT,) * arity, _as_text).after(cursor)
    assert key is not None
    return list(key)
