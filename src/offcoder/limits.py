"""Per-user bounds on work held open in this process (long polls, AI chats): one user holding
many at once would take their share from everyone else's."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

from offcoder.problems import TooManyRequests

log = structlog.get_logger(__name__)


class PerUserSlots:
    """How many of one kind of thing (`what`) each user holds open right now."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.open: Counter[uuid.UUID] = Counter()

    def take(self, user_id: uuid.UUID, limit: int, refusal: str) -> None:
        """Hold one more, or answer 429 with `refusal` when the user already holds `limit`."""
        if self.open[user_id] >= limit:
            raise TooManyRequests(refusal)
        self.open[user_id] += 1

    def give_back(self, user_id: uuid.UUID) -> None:
        if self.open[user_id] <= 0:
            # Given back more often than taken: a bug that would let a user past the bound.
            log.error("slot given back twice", what=self.what, user_id=str(user_id))
            self.open.pop(user_id, None)
            return
        self.open[user_id] -= 1
        if self.open[user_id] == 0:
            del self.open[user_id]

    @contextmanager
    def held(self, user_id: uuid.UUID, limit: int, refusal: str) -> Iterator[None]:
        self.take(user_id, limit, refusal)
        try:
            yield
        finally:
            self.give_back(user_id)
