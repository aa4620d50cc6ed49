from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from offcoder.runtime.policy import NetworkMode

# Ports a preview may publish: the usual development servers' ports, nothing privileged.
PREVIEW_PORTS = frozenset({3000, 4000, 5000, 5173, 8000, 8080, 8888})


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command: list[str] = Field(min_length=1, max_length=256)
    image: str = Field(default="python", min_length=1, max_length=32)
    timeout_s: int = Field(default=60, ge=1, le=3600)
    network: NetworkMode = NetworkMode.none
    ports: list[int] = Field(default_factory=list, max_length=4)

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str]) -> list[str]:
        if not value[0]:
            raise ValueError("the program name must not be empty")
        for part in value:
            if "\x00" in part:
                raise ValueError("command arguments must not contain NUL")
        if sum(len(part.encode()) for part in value) > 16 * 1024:
            raise ValueError("the command is longer than 16 KiB")
        return value

    @field_validator("ports")
    @classmethod
    def _ports(cls, value: list[int]) -> list[int]:
        for port in value:
            if port not in PREVIEW_PORTS:
                raise ValueError(f"port {port} is not one of {sorted(PREVIEW_PORTS)}")
        if len(set(value)) != len(value):
            raise ValueError("ports must not repeat")
        return value


class JobAccepted(BaseModel):
    id: uuid.UUID
    status: Literal["queued"] = "queued"


class JobCharge(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    currency: str
    price_per_minute: int
    reserved: int = Field(description="Held at submit: the whole timeout at the price")
    charged: int | None = Field(description="Set when the job has ended; the rest was released")


class JobUsage(BaseModel):
    """What a job used (docs/api.md "What a job used"); a measure not taken is null."""

    wall_ms: int | None = Field(
        default=None, description="From a worker taking the job to its end: the time charged"
    )
    cpu_ms: int | None = Field(
        default=None, description="CPU time of the sandbox, read every 0.5 s while it runs"
    )
    peak_memory_bytes: int | None = Field(
        default=None, description="The sandbox's highest memory use, read every 0.5 s"
    )
    output_bytes: int = Field(default=0, description="Bytes of output stored (UTF-8 text)")
    oom_killed: bool = Field(default=False, description="Stopped at its memory limit")


class JobOut(BaseModel):
    """A job as its owner sees it."""

    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    project_id: uuid.UUID
    status: str
    kind: str = Field(
        default="run",
        description="`run`: a command of yours; `install`: the install of a dependency layer",
    )
    image: str
    command: list[str]
    network: str
    ports: list[int]
    timeout_s: int
    exit_code: int | None
    reason: str | None = Field(description="Why it ended, a code to switch on (docs/api.md)")
    detail: str | None = Field(description="The ending in words for a person; never parse it")
    cancelled_by: str | None = Field(
        default=None, description="`owner` or `operator` once a cancel was asked"
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    usage: JobUsage = Field(validation_alias=AliasChoices("usage_report", "usage"))
    preview_url: str | None
    published_ports: dict[str, int]
    charge: JobCharge | None = Field(
        default=None, description="What the job holds or was charged; null when it ran free"
    )
    log_purged_at: datetime | None = Field(
        default=None, description="When its output was deleted for retention; null while kept"
    )

    @field_validator("published_ports", mode="before")
    @classmethod
    def _no_ports(cls, value: dict[str, int] | None) -> dict[str, int]:
        # Rows from before preview mode hold NULL here; the API has always said {}.
        return value or {}


class JobList(BaseModel):
    items: list[JobOut]
    next_cursor: str | None = None


class LogChunkOut(BaseModel):
    seq: int
    stream: Literal["stdout", "stderr"]
    data: str
    at: datetime = Field(
        description="When the chunk was stored: within about 50 ms of the write (one batch"
        " of chunks shares a time)"
    )


class JobLogs(BaseModel):
    chunks: list[LogChunkOut]
    done: bool
    has_earlier: bool | None = Field(
        default=None,
        description="With `tail` or `before_seq`: whether chunks before the first one are stored"
        " (page back with `before_seq` set to that first seq). Absent on `after_seq` pages.",
    )
