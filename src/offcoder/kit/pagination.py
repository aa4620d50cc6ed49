"""Keyset pagination: one cursor format and one page rule for every listing.

A listing (`{"items", "next_cursor"}`) is read newest first (or by name) with a
`WHERE (sort key) < (last key)` and `LIMIT n + 1`: the extra row says whether there is a next
page without a count. The cursor is the sort key of the last item a page returned, tagged with
the listing it belongs to, as unpadded base64url JSON (`{"k": kind, "v": [str, ...]}`). It
carries no authority: the query it feeds is scoped to the caller like any other, so a forged
cursor can only skip rows the caller could already read.

The format is the one clients have held since the first listing shipped; changing it would
turn every saved cursor into a 422.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query

from offcoder.problems import InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

Row = TypeVar("Row")

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


def bad_cursor() -> InvalidInput:
    """The 422 every listing answers for a cursor that is not one of its own."""
    return InvalidInput("The cursor is not valid for this listing.")


@dataclass(frozen=True)
class KeyPart:
    """One column of a sort key: how it is written into a cursor and read back."""

    name: str
    dump: Callable[[Any], str]
    load: Callable[[str], Any]


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    # Our cursors carry timestamptz values; a naive one was written by hand.
    if value.tzinfo is None:
        raise ValueError("naive timestamp")
    return value


INSTANT = KeyPart("instant", datetime.isoformat, _aware)
UUID = KeyPart("uuid", str, uuid.UUID)
TEXT = KeyPart("text", str, str)
# Integers travel as decimal strings: the cursor's values are all strings.
INTEGER = KeyPart("integer", str, int)


@dataclass(frozen=True)
class Keyset(Generic[Row]):
    """A listing's cursor: its kind, the parts of its sort key, and how a row yields its key."""

    kind: str
    parts: tuple[KeyPart, ...]
    key: Callable[[Row], tuple[Any, ...]]

    def after(self, cursor: str | None) -> tuple[Any, ...] | None:
        """The key a page starts after (None for the first page); 422 for a foreign cursor."""
        if cursor is None:
            return None
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            doc = json.loads(raw)
        except (binascii.Error, ValueError) as exc:
            raise bad_cursor() from exc
        if not isinstance(doc, dict) or doc.get("k") != self.kind:
            raise bad_cursor()
        values = doc.get("v")
        if (
            not isinstance(values, list)
            or len(values) != len(self.parts)
            or not all(isinstance(v, str) for v in values)
        ):
            raise bad_cursor()
        try:
            return tuple(part.load(v) for part, v in zip(self.parts, values, strict=True))
        except ValueError as exc:
            raise bad_cursor() from exc

    def cursor(self, row: Row) -> str:
        """The cursor of the page that follows `row`."""
        values = [part.dump(v) for part, v in zip(self.parts, self.key(row), strict=True)]
        doc = json.dumps({"k": self.kind, "v": values}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(doc).rstrip(b"=").decode("ascii")

    def page(self, rows: Sequence[Row], limit: int) -> tuple[list[Row], str | None]:
        """Trim a query's `limit + 1` rows to a page, with the next page's cursor if any."""
        page = list(rows[:limit])
        return page, self.cursor(page[-1]) if len(rows) > limit else None
