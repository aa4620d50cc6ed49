"""Every model, imported in one place so metadata is complete for migrations and tests."""

from offcoder.ai.models import AIKey
from offcoder.audit.models import AuditEvent
from offcoder.auth.models import (
    AdminRole,
    AuthorizationCode,
    AuthorizationRequest,
    DeviceSession,
    MfaRecoveryCode,
    MfaTotp,
    OAuthIdentity,
    RefreshToken,
)
from offcoder.db.base import Base
from offcoder.jobs.models import Job, JobLogChunk
from offcoder.projects.models import Project, ProjectFile, ProjectSecret
from offcoder.users.models import User

__all__ = [
    "AIKey",
    "AdminRole",
    "AuditEvent",
    "AuthorizationCode",
    "AuthorizationRequest",
    "Base",
    "DeviceSession",
    "Job",
    "JobLogChunk",
    "MfaRecoveryCode",
    "MfaTotp",
    "OAuthIdentity",
    "Project",
    "ProjectFile",
    "ProjectSecret",
    "RefreshToken",
    "User",
]
