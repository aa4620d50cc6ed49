"""The claim's lookups on a large jobs table: their plans and times (EXPLAIN ANALYZE).

Run with ``make bench-claim`` (``.venv/bin/python bench/claim.py``); about a minute. Needs only
the venv: an embedded PostgreSQL (pgserver) in a temporary directory (or ``--state-dir`` to keep
it between runs), migrated by `offcoder.db.bootstrap.prepare` as the tests do.

It fills `jobs` with 5000 people's history: 300 000 ended jobs spread over 60 days, 20 000 queued
jobs of 1000 people (20 each on average, the queued limit), 200 running; then it prints the plan
and time of each lookup a worker's claim makes (`jobs/repository.py`): who is next in line,
how many jobs that person runs, and their oldest queued job. With ``--plans`` the whole plans,
else only their times. Each is run three times and the last is shown (a warm cache).
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.dialects import postgresql

from offcoder.config import Environment, Settings
from offcoder.db.bootstrap import prepare, sync_url
from offcoder.jobs import repository
from offcoder.jobs.models import Job, JobStatus

PEOPLE, ENDED, WAITING, QUEUED, RUNNING = 5000, 300_000, 1000, 20_000, 200
COLUMNS = (
    "image, command, timeout_s, network, ports, usage, log_bytes, last_seq, published_ports, "
    "reserved_amount"
)
VALUES = "'python', '[]', 60, 'none', '[]', '{}', 0, 0, '{}', 0"
# A random project (and its person) of the first :among people.
SOMEONE = """(SELECT (random() * (:among - 1))::int + 1 AS k FROM generate_series(1, :n)) g
    JOIN (SELECT row_number() OVER (ORDER BY id) AS k, id, user_id FROM projects) p USING (k)"""


def fill(engine: Engine) -> None:
    with engine.begin() as c:
        if c.scalar(text("SELECT count(*) FROM jobs")):
            return
        c.execute(
            text(
                "INSERT INTO users (id, created_at, updated_at) "
                "SELECT gen_random_uuid(), now(), now() FROM generate_series(1, :n)"
            ),
            {"n": PEOPLE},
        )
        c.execute(
            text(
                "INSERT INTO projects (id, user_id, name, slug, created_at, updated_at) "
                "SELECT gen_random_uuid(), id, 'p', 'p', now(), now() FROM users"
            )
        )
        c.execute(
            text(
                f"INSERT INTO jobs (id, user_id, project_id, status, created_at, finished_at, "  # noqa: S608 - this file's constants
                f"heartbeat_at, {COLUMNS}) SELECT gen_random_uuid(), p.user_id, p.id, "
                "'succeeded', t, t + interval '10 s', t + interval '8 s', "
                f"{VALUES} FROM (SELECT now() - random() * interval '60 days' AS t, "
                "(random() * (:among - 1))::int + 1 AS k FROM generate_series(1, :n)) g "
                "JOIN (SELECT row_number() OVER (ORDER BY id) AS k, id, user_id FROM projects) p "
                "USING (k)"
            ),
            {"n": ENDED, "among": PEOPLE},
        )
        c.execute(
            text(
                f"INSERT INTO jobs (id, user_id, project_id, status, created_at, {COLUMNS}) "  # noqa: S608
                f"SELECT gen_random_uuid(), p.user_id, p.id, 'queued', "
                f"now() - random() * interval '1 hour', {VALUES} FROM {SOMEONE}"
            ),
            {"n": QUEUED, "among": WAITING},
        )
        c.execute(
            text(
                f"INSERT INTO jobs (id, user_id, project_id, status, created_at, started_at, "  # noqa: S608
                f"heartbeat_at, worker_id, {COLUMNS}) SELECT gen_random_uuid(), p.user_id, p.id, "
                f"'running', now() - interval '1 minute', now(), now(), 'w', {VALUES} "
                f"FROM {SOMEONE}"
            ),
            {"n": RUNNING, "among": WAITING},
        )
        c.execute(text("ANALYZE jobs"))


def sql(statement: Any) -> str:
    compiled = statement.compile(
        dialect=postgresql.dialect(),  # type: ignore[no-untyped-call]
        compile_kwargs={"literal_binds": True},
    )
    return str(compiled)


def explain(engine: Engine, label: str, statement: str, plans: bool) -> None:
    with engine.connect() as c:
        for _ in range(3):
            plan = [row[0] for row in c.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {statement}"))]
    print(f"--- {label}")
    print("\n".join(plan if plans else [line for line in plan if "Time:" in line]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, help="keep the database here between runs")
    parser.add_argument("--plans", action="store_true", help="print the whole plans")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    state = args.state_dir or Path(tempfile.mkdtemp(prefix="offcoder-bench-claim-"))
    prepared = prepare(Settings(env=Environment.test, state_dir=state))
    engine = create_engine(sync_url(prepared.admin_url))
    fill(engine)
    with engine.connect() as c:
        count = c.scalar(text("SELECT count(*) FROM jobs"))
    print(f"jobs: {count} in {state}")
    next_in_line = sql(repository._next_in_line(4))
    explain(engine, "next in line (running limit 4)", next_in_line, args.plans)
    with engine.connect() as c:
        person = c.scalar(text(next_in_line))
    explain(engine, "their running jobs", sql(select(repository._running_of(person))), args.plans)
    oldest = (
        select(Job)
        .where(Job.user_id == person, Job.status == JobStatus.queued)
        .order_by(Job.created_at, Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    explain(engine, "their oldest queued job", sql(oldest), args.plans)
    engine.dispose()


if __name__ == "__main__":
    main()
