"""The admin API's typed dependencies: one per role, each behind `roles.require` (O4, A5).

An admin route takes the admin first and then its transaction, so the gate (role, recent
second factor, idle limit) refuses before any system-role connection is taken:

    async def refund(admin: FinanceAdmin, session: SystemSession) -> ...

`SystemSession` (kit.transactions) is the request's transaction as the system role: admin
routes read and act across users, which RLS would hide from the application role.
"""

from __future__ import annotations

from typing import Annotated

from offcoder.admin.roles import Admin, Role, require
from offcoder.kit.transactions import SystemSession

__all__ = [
    "AnyAdmin",
    "FinanceAdmin",
    "SafetyAdmin",
    "SuperAdmin",
    "SupportAdmin",
    "SystemSession",
]

# Holders of any admin role: who they are as admins.
AnyAdmin = Annotated[Admin, require(*Role)]
# Users and sessions.
SupportAdmin = Annotated[Admin, require(Role.support)]
# Wallets, refunds and grants (payments/admin.py).
FinanceAdmin = Annotated[Admin, require(Role.finance)]
# The AI flag review queue (ai/admin.py).
SafetyAdmin = Annotated[Admin, require(Role.safety)]
# Superadmins only (no role implies it): the breach register and the sub-processor list
# (incidents/admin.py), where a record is evidence and a mistake is published.
SuperAdmin = Annotated[Admin, require()]
