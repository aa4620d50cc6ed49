"""A worker: the job loop and the periodic tasks, on one `WorkerContext`.

`offcoder worker` runs one alone; `offcoder serve` runs one in-process on the pieces of its
own context (the database and the keyring), never handing it the rest.
"""

from __future__ import annotations

import asyncio

from offcoder.jobs.worker import Worker
from offcoder.payments import tasks as payment_tasks
from offcoder.worker.context import WorkerContext
from offcoder.worker.periodic import PeriodicTask, repeat

# Provider events stored but not yet handled (the API process that stored one died before
# handling it): the worker is their second chance (P2).
PAYMENT_SWEEP_S = 5.0
RECONCILE_S = 10.0


class WorkerHost:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.jobs = Worker(ctx.settings, ctx.database, ctx.keyring)
        self.periodic = (
            PeriodicTask("reconcile sandboxes", RECONCILE_S, self.jobs.reconcile),
            PeriodicTask(
                "payment events",
                PAYMENT_SWEEP_S,
                lambda: payment_tasks.handle_pending(ctx.database),
            ),
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Take jobs and run the periodic tasks until `stop` is set; running jobs then end."""
        await asyncio.gather(self.jobs.run(stop), *(repeat(task, stop) for task in self.periodic))
