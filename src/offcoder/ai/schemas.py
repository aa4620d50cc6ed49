from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr


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


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: StrictStr = Field(min_length=1)


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: StrictStr = Field(min_length=1, max_length=32)
    model: StrictStr = Field(min_length=1, max_length=200, pattern=r"^[\w.:/@+-]+$")
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: StrictBool = False
    max_tokens: StrictInt | None = Field(default=None, ge=1)


class ChatUsage(BaseModel):
    input_tokens: int | None
    output_tokens: int | None


class ChatReplyOut(BaseModel):
    output_id: uuid.UUID
    provider: str
    model: str
    message: dict[str, str] = Field(description='{"role": "assistant", "content": ...}')
    usage: ChatUsage


class FlagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: StrictStr = Field(min_length=1, max_length=2000)


class FlagCreated(BaseModel):
    id: uuid.UUID
    output_id: uuid.UUID
    status: str
