from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    handle: str | None
    display_name: str | None
    email: str | None
    email_verified: bool
    created_at: datetime


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Handles become part of preview host names (<handle>-<project>.<preview domain>, C7):
    # lowercase DNS-label characters, no leading or trailing hyphen.
    handle: str | None = Field(
        default=None, min_length=2, max_length=39, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
    )
    display_name: str | None = Field(default=None, min_length=1, max_length=100)
