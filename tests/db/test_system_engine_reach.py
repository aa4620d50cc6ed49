"""D1: the RLS-bypassing system engine is reachable only from code that serves no user request."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import offcoder

pytestmark = pytest.mark.promise("D1")

PACKAGE = Path(offcoder.__file__).parent

# Code allowed to open a system-role transaction, and why.
ALLOWED = {
    "db/engine.py": "defines it",
    "kit/transactions.py": "defines SystemSession, the request dependency over it",
    "admin/auth.py": "hands SystemSession to admin routes, behind their role gate",
    "auth/endpoints.py": "sign-in and token exchange run before anyone is known",
    "console/endpoints.py": "the web console's sign-in callback (the same identity core)",
    "console/session.py": "the web console rotates its refresh token before anyone is known",
    "console/device.py": "a device's sign-in request (RFC 8628) is found by its user code and "
    "decided before it belongs to anyone, in a table only the system role reaches",
    "admin/endpoints.py": "the admin API reads across users (behind role + MFA, audited)",
    "admin/cli.py": "operator command (admin roles)",
    "privacy/cli.py": "operator command (publishing a policy version)",
    "privacy/exports.py": "a worker takes any user's queued export, writes its progress and "
    "archive, and purges expired ones; the user's data itself is read under their RLS",
    "admin/dashboard/access.py": "the admin dashboard's server-side sessions, in a table only "
    "the system role reaches, checked before anyone is known",
    "admin/dashboard/endpoints.py": "the admin dashboard signs in through the identity core and "
    "reads across users (behind its session, second factor and role gate, audited)",
    "audit/cli.py": "operator command",
    "audit/verify.py": "operator command",
    "audit/purge.py": "operator command",
    "crypto/cli.py": "operator command",
    "crypto/rotation.py": "operator command (key rotation)",
    "jobs/worker.py": "the worker runs every user's jobs; it reads a job's inputs under RLS",
    "jobs/repository.py": "the worker's writes of job rows (claim, heartbeat, finish, lost jobs)",
    "jobs/logwriter.py": "the worker stores each job's output for the user the job belongs to",
    "dependencies/repository.py": "the workers' own list of the layer volumes they made, which "
    "outlive the projects (and rows) they were made for",
    "jobs/retention.py": "the log purge deletes every user's logs past retention (a worker's "
    "periodic task and `offcoder jobs purge`, an operator command); it serves no request",
    "auth/retention.py": "the sign-in purge deletes expired sign-in rows of every user (a "
    "worker's periodic task and `offcoder auth purge`, an operator command); it serves no request",
    "ratelimits/storage.py": "rate-limit counters are keyed by address or user, counted before "
    "and outside any user's transaction, in a table only the system role reaches; they hold no "
    "user data",
    "users/service.py": "erasure deletes the pending link codes naming the account, in a table "
    "of the sign-in core that only the system role reaches (and nothing else)",
    "payments/webhooks.py": "a provider's signed event belongs to no signed-in user",
    "payments/tasks.py": "handling provider events (credits, refunds) for the user they name",
    "payments/admin.py": "refunds and grants act on other users' wallets (finance role + MFA)",
    "ai/admin.py": "the flag review queue reads every user's flagged outputs (safety role + MFA)",
    "jobs/admin.py": "an operator cancels any user's job (support role + MFA, audited)",
    "incidents/admin.py": "the breach register and sub-processor list read across users and "
    "live in tables only the system role reaches (superadmin + MFA, audited)",
    "incidents/mailer.py": "the worker sends every queued breach e-mail, in a table only the "
    "system role reaches; it serves no request",
    "incidents/public.py": "the published sub-processor list, in a table only the system role "
    "reaches; it holds no user data",
    "incidents/cli.py": "operator command (the sub-processor list)",
    "previews/edge.py": "the preview edge routes a request by its host and finds the project's "
    "running preview job before anyone is known (C7)",
    "previews/passes.py": "preview tickets and sessions are checked before anyone is known, in "
    "a table only the system role reaches",
    "previews/endpoints.py": "a preview shared with everyone signed in is found by its host "
    "for a visitor who does not own it (the console's ticket route)",
    "previews/labels.py": "a label, once given, stays reserved (by hash) across every user and "
    "after its project is gone, in a table only the system role reaches",
}

USES = re.compile(r"\bsystem_(session|engine|url|transaction)\b|\bSystemSession\b")


def test_only_allowed_modules_reach_the_system_role() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(("migrations/", "db/")) or relative in ALLOWED:
            continue
        if USES.search(path.read_text()):
            offenders.append(relative)
    assert offenders == [], f"system-role access outside the allow-list: {offenders}"
