"""Column types that give rows typed values without changing what the database stores."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

E = TypeVar("E", bound=StrEnum)


class StrEnumColumn(TypeDecorator[E], Generic[E]):
    """A `StrEnum` stored as its value in a plain VARCHAR (the migrations' type, unchanged).

    Not SQLAlchemy's `Enum`: that would store member names and could add a CHECK constraint,
    both schema changes. Writing a value outside the enum fails before the statement is sent.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        """The value as stored: the member's string."""
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> E | None:
        """The stored string as a member of the enum."""
        return None if value is None else self.enum(value)
