from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, StrictStr


class AIKeyIn(BaseModel):
    """The key is checked in the service, so no validation error can echo it back (R3)."""

    model_config = ConfigDict(extra="forbid")
    api_key: StrictStr


class AIKeyOut(BaseModel):
    """A stored key as the API shows it: its provider, last four characters and times."""

    provider: str
    last4: str
    created_at: datetime
    updated_at: datetime


class AIKeyList(BaseModel):
    items: list[AIKeyOut]
    # The provider list is short and fixed, so there is never a next page.
    next_cursor: str | None = None
