"""Ledger throughput and latency: `ledger.post` against a bare balance UPDATE.

Run with ``make bench-ledger`` (``.venv/bin/python bench/ledger.py``); about 65 s, 35 s with
``--quick``. Needs only the venv: by default an embedded PostgreSQL (pgserver) in a
temporary directory, migrated by `offcoder.db.bootstrap.prepare` exactly as the tests do. With
``--database-url`` (or DATABASE_URL), e.g. postgresql://postgres@127.0.0.1:5432/postgres, it
creates a scratch database and its own roles (prefix ``ocbench_<hex>``, so the tests' roles and
passwords are never touched) on that server instead, and drops them at the end.

What is measured, per cell (path x wallets x clients), for clients = 1, 8, 32 and wallets =
``hot`` (every client on ONE wallet) or ``spread`` (each op picks one of 100 wallets at random):
each client runs ops back to back for a fixed time (3 s, 1 s with --quick); each op is its own
transaction through ``Database.user_session(user_id)`` (application role, RLS: ``set_config``
of app.user_id, as the server's requests run); an amount of 1..100 minor units. Ops/s = ops that
committed / wall time of the cell (start until the last client is done); latency per op from
before the session opens to after the commit; p50 and p99 over the committed ops.

- ours: ``ledger.post(session, user_id, kind="bench.reserve", idempotency_key=<unique>, ...,
  postings=[Posting(wallet, -x), Posting(reserved, x)])``: the shape of
  ``wallet.service.reserve_for_job``, the movement a user's own request makes (a spend to
  ``revenue`` is the worker's, as the system role, and the application role may only post to its
  own wallet and reserved accounts). It is one call of the database function ``ledger_post``
  (migration 0011: replay check, the wallet row locked, replay check again, the versioned
  UPDATE, one transaction row and two entry rows), and at commit the two deferred constraint
  triggers (``ledger_entries_balanced`` once per entry, ``wallets_match_ledger`` once per wallet
  change).
- raw (the baseline): ``UPDATE bench_raw_wallets SET balance = balance - :x WHERE user_id = :u``
  in the same ``user_session`` wrapper (same pool, same pre-ping, same set_config). It cannot run
  on ``wallets`` itself: ``wallets_match_ledger`` refuses a balance change without ledger rows.
  So ``bench_raw_wallets`` is made ``LIKE wallets`` (same columns, CHECK constraints, primary
  key; no triggers, no foreign key), owned by the owner role, with the same forced RLS policy
  and grants to the application role as ``wallets``. This is the fairest of the options: the
  system role or admin URL would skip RLS and run with other privileges, which would put a
  difference in the baseline that the ledger does not cause.
- ours-notrig (the triggers' cost): ours again with the two deferred triggers disabled
  (``ALTER TABLE ... DISABLE TRIGGER`` by the admin connection around that cell only).

The three paths are interleaved cell by cell after a short warm-up, on the same database, in
one process; before each cell the ledger tables and the raw table are ANALYZEd (outside the
timing), as autovacuum keeps them in a running server (see ``Bench.analyze``). Writers of one
wallet queue on its row lock inside ``ledger_post``, so there are no lost races or retries to
count any more (before migration 0011 the bench counted them).
InsufficientFunds and any other error are counted per cell. CPU seconds of
the bench process and of the PostgreSQL processes (/proc through psutil) are read around each
cell. The time spent in ``ledger_post`` (lock waits included) and in the two trigger functions
comes from ``pg_stat_user_functions`` (``track_functions = 'pl'`` on the bench's database),
and the plan of ``wallets_match_ledger``'s query is shown for the hot wallet and a spread one
(EXPLAIN ANALYZE as the application role, generic plan: the trigger runs as the committing
role, under RLS).

At the end the invariant is checked on every wallet: balance == sum of its ``wallet`` entries,
reserved == sum of its ``reserved`` entries, ledger_version == its number of transactions, every
transaction sums to zero, balance == funded - the spends the bench saw commit and reserved ==
those spends (the raw table: balance == funded - its spends). The exit code is 1 when the
invariant fails or an op failed.

Network: loopback and unix sockets only (enforced in-process).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import platform
import random
import secrets
import socket
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from offcoder import logs
from offcoder.config import Environment, Settings
from offcoder.db.bootstrap import PreparedDatabase, prepare, sync_url
from offcoder.db.engine import Database
from offcoder.users.models import User
from offcoder.wallet import ledger
from offcoder.wallet.ledger import InsufficientFunds, Posting
from offcoder.wallet.models import Account

LEVELS = (1, 8, 32)
SPREAD = 100  # wallets in the "spread" case
FUND = 10**10  # minor units granted to every wallet: far more than any run can spend
SPEND_MAX = 100  # each op spends 1..SPEND_MAX
CURRENCY = "USD"
RAW_TABLE = "bench_raw_wallets"
TRIGGERS = (("wallets", "wallets_match_ledger"), ("ledger_entries", "ledger_entries_balanced"))
RAW_UPDATE = text(f"UPDATE {RAW_TABLE} SET balance = balance - :x WHERE user_id = :u")  # noqa: S608
PATHS = ("raw", "ours", "ours-notrig")

Op = Callable[[uuid.UUID, int, str], Awaitable[None]]


# ------------------------------------------------------------------------------- helpers


def guard_network() -> None:
    """Only loopback (and unix sockets): the bench never reaches another address."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            if host != "localhost" and not (host.startswith("127.") or host == "::1"):
                raise OSError(f"bench tried to reach {host}: only loopback is allowed")
        return real_connect(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]


def quiet() -> None:
    """Errors only on stderr: the figures stay readable."""
    logs.configure(stream=sys.__stderr__, level=logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def pct(values: list[float], q: float) -> float:
    """Percentile with linear interpolation (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# ------------------------------------------------------------------------------- CPU


class CpuMeter:
    """CPU seconds (user + system) of this process and of the PostgreSQL serving the bench.

    Embedded: the postmaster and all its children (the cluster is the bench's alone). Another
    server: only the backends connected to the scratch database (not the shared WAL writer or
    checkpointer, nor other databases' backends).
    """

    def __init__(self, postmaster_pid: int | None, database: str | None) -> None:
        self.me = psutil.Process()
        self.database = database
        self.postmaster: psutil.Process | None = None
        if postmaster_pid is not None:
            with contextlib.suppress(psutil.Error):
                self.postmaster = psutil.Process(postmaster_pid)

    @staticmethod
    def _cpu(proc: psutil.Process) -> float:
        try:
            t = proc.cpu_times()
        except psutil.Error:
            return 0.0
        return float(t.user + t.system)

    def _pg(self) -> dict[int, float]:
        if self.postmaster is None:
            return {}
        out: dict[int, float] = {}
        with contextlib.suppress(psutil.Error):
            procs = self.postmaster.children()
            if self.database is None:
                out[self.postmaster.pid] = self._cpu(self.postmaster)
            for proc in procs:
                if self.database is not None:
                    try:
                        title = " ".join(proc.cmdline())
                    except psutil.Error:
                        continue
                    if f" {self.database} " not in f" {title} ":
                        continue
                out[proc.pid] = self._cpu(proc)
        return out

    def snapshot(self) -> Snapshot:
        busy = psutil.cpu_times()
        machine = float(sum(busy) - busy.idle - getattr(busy, "iowait", 0.0))
        return Snapshot(self._cpu(self.me), self._pg(), machine)

    @staticmethod
    def delta(before: Snapshot, after: Snapshot) -> tuple[float, float, float]:
        """CPU seconds of (the bench process, the bench's PostgreSQL, everything else)."""
        bench = after.bench - before.bench
        pg = sum(v - before.pg.get(pid, 0.0) for pid, v in after.pg.items())
        return bench, pg, max(0.0, after.machine - before.machine - bench - pg)


@dataclass
class Snapshot:
    bench: float
    pg: dict[int, float]
    machine: float  # busy CPU seconds of the whole machine, all users


# ------------------------------------------------------------------------------- cells


@dataclass
class Cell:
    path: str
    wallets: str
    clients: int
    latencies: list[float] = field(default_factory=list)
    insufficient: int = 0
    failures: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_bench_s: float = 0.0
    cpu_pg_s: float = 0.0
    cpu_others_s: float = 0.0  # the rest of the machine during the cell (other users' load)

    @property
    def ops(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.ops / self.wall_s if self.wall_s else float("nan")

    def p(self, q: float) -> float:
        return 1000 * pct(self.latencies, q)

    def cpu_ms(self, seconds: float) -> float:
        return 1000 * seconds / self.ops if self.ops else float("nan")


@dataclass
class Bench:
    db: Database
    settings: Settings
    admin: Engine
    prepared: PreparedDatabase
    run: str = field(default_factory=lambda: secrets.token_hex(4))
    ours_hot: uuid.UUID = field(default_factory=uuid.uuid4)
    ours_spread: list[uuid.UUID] = field(default_factory=list)
    raw_hot: uuid.UUID = field(default_factory=uuid.uuid4)
    raw_spread: list[uuid.UUID] = field(default_factory=list)
    # What the bench saw commit, per wallet (ours) or raw row: the invariant compares to it.
    spent: Counter[uuid.UUID] = field(default_factory=Counter)

    async def ours(self, user_id: uuid.UUID, amount: int, key: str) -> None:
        async with self.db.user_session(user_id) as session:
            await ledger.post(
                session,
                user_id,
                kind="bench.reserve",
                idempotency_key=key,
                currency=CURRENCY,
                postings=[Posting(Account.wallet, -amount), Posting(Account.reserved, amount)],
                reference=key,
            )

    async def raw(self, user_id: uuid.UUID, amount: int, key: str) -> None:
        async with self.db.user_session(user_id) as session:
            changed = await session.execute(RAW_UPDATE, {"x": amount, "u": user_id})
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                raise RuntimeError(f"raw UPDATE matched {changed.rowcount} rows")  # type: ignore[attr-defined]

    def analyze(self) -> None:
        """Fresh statistics before every cell, as autovacuum keeps them in a running server.

        Without this the planner keeps the statistics of the set-up (one transaction per
        wallet), and the cached plans of the ledger's lookups and triggers seq-scan tables
        that grow by thousands of rows during the run: each post then costs O(all ledger
        rows), before and after migration 0011 alike. Autovacuum's own ANALYZE waits a minute
        (its naptime), about the length of a whole run."""
        with self.admin.connect() as conn:
            conn.execute(text(f"ANALYZE wallets, ledger_transactions, ledger_entries, {RAW_TABLE}"))

    def triggers(self, enabled: bool) -> None:
        verb = "ENABLE" if enabled else "DISABLE"
        with self.admin.connect() as conn:
            for table, trigger in TRIGGERS:
                conn.execute(text(f"ALTER TABLE {table} {verb} TRIGGER {trigger}"))

    async def cell(
        self, path: str, wallets: str, clients: int, seconds: float, meter: CpuMeter | None
    ) -> Cell:
        cell = Cell(path, wallets, clients)
        raw = path == "raw"
        op: Op = self.raw if raw else self.ours
        hot = self.raw_hot if raw else self.ours_hot
        spread = self.raw_spread if raw else self.ours_spread
        prefix = f"b{self.run}-{path}-{wallets}-{clients}-{secrets.token_hex(3)}"

        async def client(index: int) -> None:
            rng = random.Random(f"{prefix}-{index}")  # noqa: S311 (not for secrets)
            i = 0
            while time.perf_counter() < deadline:
                user_id = hot if wallets == "hot" else rng.choice(spread)
                amount = rng.randint(1, SPEND_MAX)
                t0 = time.perf_counter()
                try:
                    await op(user_id, amount, f"{prefix}-{index}-{i}")
                except InsufficientFunds:
                    cell.insufficient += 1
                except Exception as exc:
                    cell.failures.append(f"{type(exc).__name__}: {exc}"[:300])
                else:
                    cell.latencies.append(time.perf_counter() - t0)
                    self.spent[user_id] += amount
                i += 1

        self.analyze()
        if path == "ours-notrig":
            self.triggers(False)
        try:
            before = meter.snapshot() if meter else None
            started = time.perf_counter()
            deadline = started + seconds
            await asyncio.gather(*(client(n) for n in range(clients)))
            cell.wall_s = time.perf_counter() - started
            if meter is not None and before is not None:
                cell.cpu_bench_s, cell.cpu_pg_s, cell.cpu_others_s = CpuMeter.delta(
                    before, meter.snapshot()
                )
        finally:
            if path == "ours-notrig":
                self.triggers(True)
        return cell


# ------------------------------------------------------------------------------- set-up


def make_raw_table(admin: Engine, prepared: PreparedDatabase, rows: list[uuid.UUID]) -> None:
    """The baseline's table: shaped like `wallets`, the same forced RLS and grants, no triggers."""
    owner, app, system = prepared.roles.owner, prepared.roles.app, prepared.roles.system
    with admin.connect() as conn:
        conn.execute(text(f'SET ROLE "{owner}"'))
        conn.execute(
            text(
                f"CREATE TABLE {RAW_TABLE} "
                "(LIKE wallets INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)"
            )
        )
        conn.execute(text(f"ALTER TABLE {RAW_TABLE} ENABLE ROW LEVEL SECURITY"))
        conn.execute(text(f"ALTER TABLE {RAW_TABLE} FORCE ROW LEVEL SECURITY"))
        conn.execute(
            text(
                f'CREATE POLICY {RAW_TABLE}_owner ON {RAW_TABLE} TO "{app}" '
                "USING (user_id = app_current_user_id()) "
                "WITH CHECK (user_id = app_current_user_id())"
            )
        )
        conn.execute(text(f'GRANT SELECT, INSERT, UPDATE ON {RAW_TABLE} TO "{app}"'))
        conn.execute(text(f'GRANT SELECT, INSERT, UPDATE ON {RAW_TABLE} TO "{system}"'))
        conn.execute(text("RESET ROLE"))  # the admin (superuser) funds the rows past RLS
        conn.execute(
            text(
                f"INSERT INTO {RAW_TABLE} (user_id, currency, balance, reserved, "  # noqa: S608
                "ledger_version, created_at, updated_at) VALUES (:u, :c, :b, 0, 0, now(), now())"
            ),
            [{"u": u, "c": CURRENCY, "b": FUND} for u in rows],
        )
        conn.execute(text(f"ANALYZE {RAW_TABLE}"))


async def fund_wallets(bench: Bench) -> None:
    """Users, empty wallets, and a grant of FUND to each (as the system role, as grants are)."""
    users = [bench.ours_hot, *bench.ours_spread]
    async with bench.db.system_session() as session:
        session.add_all([User(id=u) for u in users])
        await session.flush()
        for user_id in users:
            await ledger.open_wallet(session, user_id, CURRENCY)
            await ledger.post(
                session,
                user_id,
                kind="grant",
                idempotency_key=f"bench-fund-{user_id}",
                currency=CURRENCY,
                postings=[Posting(Account.wallet, FUND), Posting(Account.grants, -FUND)],
                reference="bench:fund",
            )
    with bench.admin.connect() as conn:
        for table in ("users", "wallets", "ledger_transactions", "ledger_entries"):
            conn.execute(text(f"ANALYZE {table}"))


def server_facts(admin: Engine) -> dict[str, str]:
    with admin.connect() as conn:
        facts = {
            name: str(conn.execute(text(f"SHOW {name}")).scalar())
            for name in (
                "server_version",
                "max_connections",
                "shared_buffers",
                "fsync",
                "synchronous_commit",
            )
        }
        facts["pid"] = str(conn.execute(text("SELECT pg_backend_pid()")).scalar())
    return facts


# ------------------------------------------------------------------------------- invariant


def check_invariant(bench: Bench) -> tuple[bool, list[str]]:
    lines: list[str] = []
    ok = True
    with bench.admin.connect() as conn:
        rows = conn.execute(
            text(
                """
                SELECT w.user_id, w.balance, w.reserved, w.ledger_version,
                       coalesce(e.wallet, 0), coalesce(e.reserved, 0), coalesce(t.n, 0)
                  FROM wallets w
                  LEFT JOIN (SELECT user_id,
                                    sum(amount) FILTER (WHERE account = 'wallet') AS wallet,
                                    sum(amount) FILTER (WHERE account = 'reserved') AS reserved
                               FROM ledger_entries GROUP BY user_id) e USING (user_id)
                  LEFT JOIN (SELECT user_id, count(*) AS n
                               FROM ledger_transactions GROUP BY user_id) t USING (user_id)
                """
            )
        ).all()
        unbalanced = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT transaction_id FROM ledger_entries "
                "GROUP BY transaction_id HAVING sum(amount) <> 0 OR count(*) < 2) x"
            )
        ).scalar()
        transactions = conn.execute(text("SELECT count(*) FROM ledger_transactions")).scalar()
        raw_rows = conn.execute(text(f"SELECT user_id, balance FROM {RAW_TABLE}")).all()  # noqa: S608
    bad_entries = [r for r in rows if r[1] != r[4] or r[2] != r[5] or r[3] != r[6]]
    ours_ids = {bench.ours_hot, *bench.ours_spread}
    bad_tally = [
        r
        for r in rows
        if r[0] in ours_ids and (r[1] != FUND - bench.spent[r[0]] or r[2] != bench.spent[r[0]])
    ]
    bad_raw = [r for r in raw_rows if r[1] != FUND - bench.spent[r[0]]]
    ok = not (bad_entries or bad_tally or bad_raw or unbalanced)
    lines.append(
        f"{len(rows)} wallets: balance == sum(wallet entries), reserved == sum(reserved "
        f"entries), ledger_version == count(transactions) for "
        f"{len(rows) - len(bad_entries)}/{len(rows)}"
    )
    lines.append(
        f"balance == funded - spends the bench saw commit, reserved == those spends: "
        f"{len(rows) - len(bad_tally)}"
        f"/{len(rows)} wallets; raw table {len(raw_rows) - len(bad_raw)}/{len(raw_rows)} rows"
    )
    lines.append(f"{transactions} ledger transactions, {unbalanced} not summing to zero")
    for r in (bad_entries + bad_tally)[:5]:
        lines.append(f"  MISMATCH wallet {r[0]}: {tuple(r[1:])} spent {bench.spent[r[0]]}")
    return ok, lines


# The query `wallet_matches_ledger` runs at every commit that changed a wallet (migration 0006).
TRIGGER_QUERY = """
SELECT count(DISTINCT t.id),
       coalesce(sum(e.amount) FILTER (WHERE e.account = 'wallet'), 0),
       coalesce(sum(e.amount) FILTER (WHERE e.account = 'reserved'), 0)
  FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
 WHERE t.user_id = $1 AND t.ledger_version > $2 AND t.ledger_version <= $3
"""


def trigger_plans(bench: Bench) -> list[str]:
    """That query's plan for one version step, as the application role (the trigger runs as the
    role that commits, so RLS applies) with a generic plan (what PL/pgSQL settles on after five
    calls): on the hot wallet (a long history) and on a spread wallet (a short one)."""
    lines = []
    with bench.admin.connect() as conn:
        conn.execute(text(f'SET ROLE "{bench.prepared.roles.app}"'))
        conn.execute(text("SET plan_cache_mode = force_generic_plan"))
        conn.execute(text(f"PREPARE bench_trigger(uuid, bigint, bigint) AS {TRIGGER_QUERY}"))
        for label, user_id in (("hot", bench.ours_hot), ("spread", bench.ours_spread[0])):
            conn.execute(text("SELECT set_config('app.user_id', :u, false)"), {"u": str(user_id)})
            version = conn.execute(
                text("SELECT ledger_version FROM wallets WHERE user_id = :u"), {"u": user_id}
            ).scalar_one()
            plan = [
                str(row[0]).strip()
                for row in conn.execute(
                    text(
                        f"EXPLAIN (ANALYZE, COSTS OFF) EXECUTE bench_trigger('{user_id}', "
                        f"{version - 1}, {version})"
                    )
                )
            ]
            scans = [line.lstrip("-> ") for line in plan if "on ledger_entries" in line]
            removed = [line for line in plan if "Rows Removed by Join Filter" in line]
            lines.append(
                f"{label} wallet (version {version}): {plan[-1]}; ledger_entries via "
                f"{'; '.join(scans) or '?'}{'; ' + removed[0] if removed else ''}"
            )
        conn.execute(text("DEALLOCATE bench_trigger"))
        conn.execute(text("RESET ROLE"))
    return lines


def trigger_times(admin: Engine) -> list[str]:
    with admin.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT funcname, calls, total_time, self_time FROM pg_stat_user_functions "
                "WHERE funcname IN ('wallet_matches_ledger', 'ledger_transaction_balanced', "
                "'ledger_post') ORDER BY funcname"
            )
        ).all()
    if not rows:
        return ["(no statistics: track_functions did not take effect)"]
    lines = [
        f"{name}: {calls} calls, {total:.0f} ms in all, {1000 * total / calls:.0f} us per call"
        for name, calls, total, _self in rows
        if calls
    ]
    per = {name: total / calls for name, calls, total, _self in rows if calls}
    if "wallet_matches_ledger" in per and "ledger_transaction_balanced" in per:
        op = per["wallet_matches_ledger"] + 2 * per["ledger_transaction_balanced"]
        lines.append(
            f"per ledger op (1 wallet change, 2 entries): {1000 * op:.0f} us of server time"
        )
    return lines


# ------------------------------------------------------------------------------- report


def fmt(value: float, digits: int = 1) -> str:
    return "-" if value != value else f"{value:.{digits}f}"  # NaN -> "-"


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def report(results: dict[tuple[str, str, int], Cell]) -> None:
    print()
    print(
        "| wallets | c | raw ops/s | ours ops/s | ops/s ours/raw | p50 ms raw / ours "
        "| p99 ms raw / ours | p99 ours/raw | failed |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for wallets in ("hot", "spread"):
        for c in LEVELS:
            raw, ours = results[("raw", wallets, c)], results[("ours", wallets, c)]
            failed = len(ours.failures) + ours.insufficient + len(raw.failures) + raw.insufficient
            print(
                f"| {wallets} | {c} | {raw.rate:.0f} | {ours.rate:.0f} "
                f"| **{fmt(ratio(ours.rate, raw.rate), 2)}x** "
                f"| {fmt(raw.p(50))} / {fmt(ours.p(50))} | {fmt(raw.p(99))} / {fmt(ours.p(99))} "
                f"| **{fmt(ratio(ours.p(99), raw.p(99)))}x** "
                f"| {failed} |"
            )
    print()
    print("What the two deferred triggers cost (ours vs ours with them disabled), and CPU:")
    print()
    print(
        "| wallets | c | notrig ops/s | ours/notrig | p50 / p99 ms notrig "
        "| CPU ms/op bench raw / ours / notrig | CPU ms/op postgres raw / ours / notrig "
        "| bench process busy (cores) raw / ours | others' load (cores) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for wallets in ("hot", "spread"):
        for c in LEVELS:
            raw, ours, bare = (results[(p, wallets, c)] for p in PATHS)
            others = sum(x.cpu_others_s for x in (raw, ours, bare)) / sum(
                x.wall_s for x in (raw, ours, bare)
            )
            print(
                f"| {wallets} | {c} | {bare.rate:.0f} | {fmt(ratio(ours.rate, bare.rate), 2)}x "
                f"| {fmt(bare.p(50))} / {fmt(bare.p(99))} "
                f"| {fmt(raw.cpu_ms(raw.cpu_bench_s))} / {fmt(ours.cpu_ms(ours.cpu_bench_s))}"
                f" / {fmt(bare.cpu_ms(bare.cpu_bench_s))} "
                f"| {fmt(raw.cpu_ms(raw.cpu_pg_s))} / {fmt(ours.cpu_ms(ours.cpu_pg_s))}"
                f" / {fmt(bare.cpu_ms(bare.cpu_pg_s))} "
                f"| {fmt(ratio(raw.cpu_bench_s, raw.wall_s), 2)} "
                f"/ {fmt(ratio(ours.cpu_bench_s, ours.wall_s), 2)} "
                f"| {others:.2f} |"
            )
    failures = [
        (cell.path, cell.wallets, cell.clients, f)
        for cell in results.values()
        for f in cell.failures
    ]
    if failures:
        print(f"\n{len(failures)} failed ops; first ones:")
        for path, wallets, c, text_ in failures[:5]:
            print(f"  {path} {wallets} c={c}: {text_}")


# ------------------------------------------------------------------------------- main


@contextlib.contextmanager
def scratch_database(url: str | None) -> Iterator[tuple[str | None, str | None]]:
    """(admin URL of a fresh database, role prefix) on another server, dropped after; or
    (None, None) for the embedded server."""
    if not url:
        yield None, None
        return
    name = f"offcoder_bench_{secrets.token_hex(4)}"
    prefix = f"ocbench_{secrets.token_hex(3)}"
    engine = create_engine(sync_url(make_url(url)), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False), prefix
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            for suffix in ("app", "system", "owner"):
                conn.execute(text(f'DROP ROLE IF EXISTS "{prefix}_{suffix}"'))
        engine.dispose()


async def run(args: argparse.Namespace, database_url: str | None, prefix: str | None) -> int:
    seconds = 1.0 if args.quick else args.seconds
    with tempfile.TemporaryDirectory(prefix="offcoder-bench-ledger-") as tmp:
        t_setup = time.perf_counter()
        settings = Settings(
            env=Environment.test,
            state_dir=Path(tmp),
            database_url=database_url,
            database_app_url=None,
            database_system_url=None,
            db_role_prefix=prefix or Settings.model_fields["db_role_prefix"].default,
        )
        prepared = prepare(settings)
        quiet()
        admin = create_engine(sync_url(prepared.admin_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:  # time the triggers' functions (pg_stat_user_functions)
            name = prepared.admin_url.database
            conn.execute(text(f"ALTER DATABASE \"{name}\" SET track_functions = 'pl'"))
        db = prepared.open(pool_size=40)  # its connections start with that setting
        try:
            bench = Bench(db, settings, admin, prepared)
            bench.ours_spread = [uuid.uuid4() for _ in range(SPREAD)]
            bench.raw_spread = [uuid.uuid4() for _ in range(SPREAD)]
            await fund_wallets(bench)
            make_raw_table(admin, prepared, [bench.raw_hot, *bench.raw_spread])
            facts = server_facts(admin)
            embedded = prepared.embedded
            if embedded is not None:
                meter: CpuMeter | None = CpuMeter(embedded.get_pid(), None)
            else:
                try:
                    postmaster = psutil.Process(int(facts["pid"])).ppid()
                    meter = CpuMeter(postmaster, prepared.admin_url.database)
                except psutil.Error:
                    meter = None  # a server in another PID namespace: no CPU figures
            where = "embedded (pgserver)" if embedded is not None else "external"
            print(
                f"== ledger bench: {seconds:g} s per cell, clients {LEVELS}, hot = 1 wallet, "
                f"spread = {SPREAD} wallets; {os.cpu_count()} CPUs, {platform.platform()}"
            )
            print(
                f"   PostgreSQL {facts['server_version']} {where}: max_connections "
                f"{facts['max_connections']}, shared_buffers {facts['shared_buffers']}, fsync "
                f"{facts['fsync']}, synchronous_commit {facts['synchronous_commit']}"
            )
            print(
                f"   set-up (PostgreSQL, migrations, funding): {time.perf_counter() - t_setup:.1f}"
                f" s; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
            )
            results: dict[tuple[str, str, int], Cell] = {}
            for path in ("raw", "ours"):  # warm-up: pools open, plans cached, code hot
                await bench.cell(path, "spread", 8, min(1.0, seconds / 2), None)
            for wallets in ("hot", "spread"):
                for c in LEVELS:
                    for path in PATHS:
                        cell = await bench.cell(path, wallets, c, seconds, meter)
                        results[(path, wallets, c)] = cell
                    ours = results[("ours", wallets, c)]
                    print(
                        f"   {wallets:6} c={c:<2}: raw {results[('raw', wallets, c)].rate:6.0f}"
                        f" ops/s, ours {ours.rate:6.0f} ops/s ({ours.ops} ops in "
                        f"{ours.wall_s:.1f} s), "
                        "notrig "
                        f"{results[('ours-notrig', wallets, c)].rate:6.0f} ops/s"
                    )
            report(results)
            ok, lines = check_invariant(bench)
            print(f"\nInvariant: {'HOLDS' if ok else 'BROKEN'}")
            for line in lines:
                print(f"  {line}")
            failed = sum(len(c.failures) + c.insufficient for c in results.values())
            await db.dispose()  # the backends flush their function statistics as they exit
            await asyncio.sleep(1)
            print(
                "\nledger_post (lock waits included) and the trigger functions "
                "(pg_stat_user_functions, all ours cells and set-up):"
            )
            for line in trigger_times(admin):
                print(f"  {line}")
            print("Its wallet query, generic plan as the app role (EXPLAIN ANALYZE):")
            for line in trigger_plans(bench):
                print(f"  {line}")
            print(f"\nfailed ops in all cells: {failed}")
            print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            return 0 if ok and not failed else 1
        finally:
            admin.dispose()
            await db.dispose()
            if prepared.embedded is not None:  # stop PostgreSQL before its directory goes
                prepared.embedded.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 s per cell instead of --seconds")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per cell (3)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="admin URL of a PostgreSQL to use instead of the embedded one (DATABASE_URL); "
        "a scratch database is created there and dropped at the end",
    )
    args = parser.parse_args()
    guard_network()
    quiet()
    with scratch_database(args.database_url) as (url, prefix):
        return asyncio.run(run(args, url, prefix))


if __name__ == "__main__":
    sys.exit(main())
