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


class Allowance(BaseModel):
    used: int
    limit: int


class StorageAllowance(Allowance):
    dependency_bytes: int = Field(
        description="Of `used`, the bytes the projects' ready dependency layers take; the rest "
        "is files"
    )


class Quotas(BaseModel):
    """Per-person limits, each with what the person uses of it now."""

    queued_jobs: Allowance = Field(description="Jobs waiting to run (429 past the limit)")
    running_jobs: Allowance = Field(
        description="Jobs starting or running (past it, queued jobs wait)"
    )
    projects: Allowance = Field(description="Projects (409 past the limit)")
    file_bytes: StorageAllowance = Field(
        description="Bytes of files and dependency layers in all projects together (413 past it)"
    )


class JobLimits(BaseModel):
    """Limits on one file, project or job, the same for everyone."""

    file_bytes: int = Field(description="Largest file")
    project_file_bytes: int = Field(description="Bytes of files in one project")
    job_timeout_s: int = Field(description="Longest timeout_s a job may ask for")
    job_output_bytes: int = Field(description="Output stored per job; past it the job stops")
    log_retention_days: int = Field(description="Days a job's output is kept after it ends")
    job_cpus: float = Field(description="CPU cores a job may use: the plan's cap, or the default")


class Cost(BaseModel):
    currency: str
    amount: int = Field(description="In the currency's minor units")


class MonthUsage(BaseModel):
    """The person's jobs that ended this calendar month (UTC), added up."""

    since: datetime = Field(description="The first instant of this month, UTC")
    jobs: int
    wall_ms: int
    cpu_ms: int
    output_bytes: int
    cost: list[Cost] = Field(description="What they were charged, per currency")


class UsageOut(BaseModel):
    quotas: Quotas
    limits: JobLimits
    this_month: MonthUsage
