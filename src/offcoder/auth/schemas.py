from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AuthorizationCodeGrant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grant_type: Literal["authorization_code"]
    code: str = Field(min_length=1, max_length=512)
    code_verifier: str = Field(min_length=1, max_length=256)


class RefreshTokenGrant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grant_type: Literal["refresh_token"]
    refresh_token: str = Field(min_length=1, max_length=512)


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name
    expires_in: int
    refresh_token: str
    session_id: uuid.UUID


class Provider(BaseModel):
    name: str
    display_name: str
    authorize_url: str


class ProviderList(BaseModel):
    items: list[Provider]


class DeviceSessionOut(BaseModel):
    id: uuid.UUID
    device_name: str
    provider: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    ip_prefix: str | None
    current: bool


class DeviceSessionList(BaseModel):
    items: list[DeviceSessionOut]
    next_cursor: str | None = None
