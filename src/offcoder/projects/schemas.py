from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StrictStr = Field(min_length=1, max_length=100)


class ProjectUpdate(BaseModel):
    """What a PATCH changes: only the fields it names (`run_command: null` forgets it)."""

    model_config = ConfigDict(extra="forbid")
    name: StrictStr | None = Field(default=None, min_length=1, max_length=100)
    run_command: StrictStr | None = Field(
        default=None,
        max_length=4096,
        description="The shell line the console runs as `sh -c '<line>'`; null forgets it",
    )

    @model_validator(mode="after")
    def _something(self) -> ProjectUpdate:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change: name or run_command")
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("a project's name cannot be null")
        return self


class ProjectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    slug: str
    name: str
    # Its preview host's first label, once it has served a preview (C7): stable for the
    # project's life, whatever its owner's handle becomes.
    preview_label: str | None = None
    # The console's remembered Run command (a shell line), null until set.
    run_command: str | None = None
    created_at: datetime
    updated_at: datetime


class ProjectList(BaseModel):
    items: list[ProjectOut]
    next_cursor: str | None


class FileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    path: str
    size: int
    sha256: str
    updated_at: datetime


class FileList(BaseModel):
    items: list[FileOut]
    next_cursor: str | None


class FileMove(BaseModel):
    """Rename a file, or a folder (every file under `from` + "/"), to `to` (api.md)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    source: StrictStr = Field(alias="from", min_length=1, max_length=1024)
    target: StrictStr = Field(alias="to", min_length=1, max_length=1024)


class MovedFiles(BaseModel):
    """The moved files at their new paths, by path."""

    items: list[FileOut]


class SecretIn(BaseModel):
    """The value is checked in the service (bytes, NUL) so no error can echo it back."""

    model_config = ConfigDict(extra="forbid")
    value: StrictStr


class SecretOut(BaseModel):
    """A secret as the API shows it: its name and times, never its value (R3)."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    created_at: datetime
    updated_at: datetime


class SecretList(BaseModel):
    items: list[SecretOut]
    next_cursor: str | None
