"""A worker: the job loop and the periodic tasks, on one `WorkerContext`.

`offcoder worker` runs one alone; `offcoder serve` runs one in-process on the pieces of its
own context (the database and the keyring), never handing it the rest.
"""

from __future__ import annotations

import asyncio
from functools import partial

from offcoder.auth import retention as sign_in_retention
from offcoder.incidents import mailer
from offcoder.jobs import retention
from offcoder.jobs.worker import Worker
from offcoder.payments import tasks as payment_tasks
from offcoder.privacy import exports
from offcoder.ratelimits import storage as rate_limit_storage
from offcoder.worker.context import WorkerContext
from offcoder.worker.periodic import PeriodicTask, repeat

RECONCILE_S = 10.0


class WorkerHost:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.jobs = Worker(ctx.settings, ctx.database, ctx.keyring)
        self.periodic = (
            PeriodicTask("reconcile sandboxes", RECONCILE_S, self.jobs.reconcile),
            # Job logs past their retention, across users (jobs/retention.py).
            PeriodicTask(
                "purge job logs",
                retention.PURGE_EVERY_S,
                partial(retention.purge_logs, ctx.database, ctx.settings.log_retention_days),
            ),
            # Sign-in rows that can change no answer any more, across users (auth/retention.py).
            PeriodicTask(
                "purge sign-in rows",
                sign_in_retention.PURGE_EVERY_S,
                partial(sign_in_retention.purge_expired, ctx.database),
            ),
            # Rate-limit windows that ended (PostgreSQL counters; Redis expires its own keys).
            PeriodicTask(
                "purge rate-limit counters",
                rate_limit_storage.PURGE_EVERY_S,
                partial(rate_limit_storage.purge_expired_counters, ctx.database),
            ),
            # A payments task (how often, and what it does, is theirs), hosted here.
            PeriodicTask(
                "payment events",
                payment_tasks.SWEEP_EVERY_S,
                partial(payment_tasks.sweep, ctx.database),
            ),
            # Breach e-mails to affected people, retried with backoff (incidents/mailer.py).
            PeriodicTask(
                "breach e-mails",
                mailer.SEND_EVERY_S,
                partial(mailer.send_due, ctx.database, ctx.settings),
            ),
            # Data export archives (privacy/exports.py): made soon after asked, purged a day on.
            PeriodicTask(
                "data exports",
                exports.RUN_EVERY_S,
                partial(exports.run_pending, ctx.database, ctx.settings.export_ttl_s),
            ),
            PeriodicTask(
                "purge data exports",
                exports.PURGE_EVERY_S,
                partial(exports.purge_expired, ctx.database),
            ),
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Take jobs and run the periodic tasks until `stop` is set; running jobs then end."""
        await asyncio.gather(self.jobs.run(stop), *(repeat(task, stop) for task in self.periodic))
