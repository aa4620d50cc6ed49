"""Every model, imported in one place so metadata is complete for migrations and tests."""

from offcoder.ai.models import AIFlag, AIKey, AIOutput, SafetyEvent, SafetyExemplar
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
from offcoder.dependencies.models import DependencyLayer, DependencyVolume
from offcoder.incidents.models import IncidentVersion, NotificationEmail, SubprocessorVersion
from offcoder.jobs.models import Job, JobLogChunk
from offcoder.payments.models import GrantRequest, PaymentEvent, Refund, Topup, UserPlan
from offcoder.previews.models import PreviewPass, PreviewShare, ReservedPreviewLabel
from offcoder.privacy.models import Consent, DataExportArchive, PolicyVersion
from offcoder.projects.models import Project, ProjectFile, ProjectSecret
from offcoder.ratelimits.models import RateLimitCounter
from offcoder.users.models import User
from offcoder.wallet.models import LedgerEntry, LedgerTransaction, Wallet

__all__ = [
    "AIFlag",
    "AIKey",
    "AIOutput",
    "AdminRole",
    "AuditEvent",
    "AuthorizationCode",
    "AuthorizationRequest",
    "Base",
    "Consent",
    "DataExportArchive",
    "DependencyLayer",
    "DependencyVolume",
    "DeviceSession",
    "GrantRequest",
    "IncidentVersion",
    "Job",
    "JobLogChunk",
    "LedgerEntry",
    "LedgerTransaction",
    "MfaRecoveryCode",
    "MfaTotp",
    "NotificationEmail",
    "OAuthIdentity",
    "PaymentEvent",
    "PolicyVersion",
    "PreviewPass",
    "PreviewShare",
    "Project",
    "ProjectFile",
    "ProjectSecret",
    "RateLimitCounter",
    "RefreshToken",
    "Refund",
    "ReservedPreviewLabel",
    "SafetyEvent",
    "SafetyExemplar",
    "SubprocessorVersion",
    "Topup",
    "User",
    "UserPlan",
    "Wallet",
]
