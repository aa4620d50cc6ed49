"""A Hypothesis state machine over the wallet (P4): top-ups (delivered once or twice), job
reservations and settlements, admin refunds, refunds made at the provider, grants and replays,
in any order. After every step: the wallet matches a plain model of it, its balance and
reserved equal the sums of their entries, every transaction balances, nothing is negative."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)

from offcoder.config import Settings
from offcoder.db.bootstrap import PreparedDatabase
from offcoder.db.engine import Database
from offcoder.payments import service as payments
from offcoder.payments.models import Provider, Topup, TopupStatus
from offcoder.problems import Problem
from offcoder.wallet import ledger
from offcoder.wallet import service as wallet
from tests.support.wallet import funded, invariants

pytestmark = pytest.mark.promise("P4")

T = TypeVar("T")
# A job as the wallet knows it: its id and what was held for it.
HeldJob = tuple[uuid.UUID, wallet.JobHold]
PRICE = 60  # per minute: one minor unit per second of sandbox time


def machine(db: Database, loop: asyncio.AbstractEventLoop, config: Settings) -> type:
    def run(step: Coroutine[Any, Any, T]) -> T:
        return loop.run_until_complete(step)

    class Wallet(RuleBasedStateMachine):
        topups = Bundle("topups")
        jobs = Bundle("jobs")
        settled = Bundle("settled")

        def __init__(self) -> None:
            super().__init__()
            self.user = run(funded(db, 0))
            self.balance = 0
            self.reserved = 0
            self.refundable: dict[uuid.UUID, int] = {}
            self.grants: list[tuple[str, int]] = []

        async def _topup(self, amount: int) -> uuid.UUID:
            async with db.system_session() as s:
                topup = await payments.begin_topup(
                    s,
                    config,
                    self.user,
                    payments.TopupRequest(Provider.stripe.value, amount, "USD"),
                    str(uuid.uuid4()),
                )
                topup.status = TopupStatus.open.value
                return topup.id

        async def _credit(self, topup_id: uuid.UUID) -> None:
            async with db.system_session() as s:
                topup = await s.get_one(Topup, topup_id, with_for_update=True)
                flag = await payments.credit_payment(
                    s, topup, payment_id=f"pi_{topup_id.hex}", amount=topup.amount, currency="usd"
                )
                assert flag is None

        @rule(target=topups, amount=st.integers(100, 5000), deliveries=st.integers(1, 3))
        def top_up(self, amount: int, deliveries: int) -> uuid.UUID:
            topup_id = run(self._topup(amount))
            for _ in range(deliveries):  # the provider's retries: credited once
                run(self._credit(topup_id))
            self.balance += amount
            self.refundable[topup_id] = amount
            return topup_id

        async def _reserve(self, job_id: uuid.UUID, timeout_s: int) -> wallet.JobHold | None:
            async with db.user_session(self.user) as s:
                return await wallet.reserve_for_job(s, config, self.user, job_id, timeout_s)

        @rule(target=jobs, timeout_s=st.integers(1, 3000))
        def reserve(self, timeout_s: int) -> HeldJob | None:
            job_id = uuid.uuid4()
            amount = wallet.job_reservation(PRICE, timeout_s)
            if amount > self.balance:
                with pytest.raises(ledger.InsufficientFunds):
                    run(self._reserve(job_id, timeout_s))
                return None
            hold = run(self._reserve(job_id, timeout_s))
            assert hold is not None and hold.amount == amount
            self.balance -= amount
            self.reserved += amount
            return job_id, hold

        async def _settle(self, job: HeldJob, wall_ms: int | None) -> int:
            async with db.system_session() as s:
                return await wallet.settle_job(s, self.user, *job, wall_ms)

        @rule(target=settled, job=consumes(jobs), wall_ms=st.none() | st.integers(0, 4_000_000))
        def settle(
            self, job: HeldJob | None, wall_ms: int | None
        ) -> tuple[HeldJob, int | None] | None:
            if job is None:
                return None
            cost = run(self._settle(job, wall_ms))
            held = job[1].amount
            assert 0 <= cost <= held
            # PRICE is one unit a second: started seconds, never more than was held.
            expected = 0 if wall_ms is None else min(held, -(-wall_ms // 1000))
            assert cost == expected
            self.reserved -= held
            self.balance += held - cost
            return job, wall_ms

        @rule(done=settled)
        def settle_again(self, done: tuple[HeldJob, int | None] | None) -> None:
            if done is not None:  # a worker retrying its last step: a replay, nothing moves
                run(self._settle(*done))

        async def _refund(self, topup_id: uuid.UUID, amount: int) -> None:
            async with db.system_session() as s:
                await payments.begin_refund(
                    s, topup_id, amount, "test", str(uuid.uuid4()), uuid.uuid4()
                )

        @rule(topup=topups, amount=st.integers(1, 6000))
        def admin_refund(self, topup: uuid.UUID, amount: int) -> None:
            if amount > self.refundable[topup] or amount > self.balance:
                with pytest.raises(Problem):
                    run(self._refund(topup, amount))
                return
            run(self._refund(topup, amount))
            self.refundable[topup] -= amount
            self.balance -= amount

        async def _provider_refund(self, topup_id: uuid.UUID, amount: int) -> str | None:
            async with db.system_session() as s:
                topup = await s.get_one(Topup, topup_id, with_for_update=True)
                return await payments.record_provider_refund(
                    s,
                    topup,
                    provider_refund_id=f"re_{uuid.uuid4().hex}",
                    amount=amount,
                    our_refund_id=None,
                )

        @rule(topup=topups, amount=st.integers(1, 6000))
        def refunded_at_the_provider(self, topup: uuid.UUID, amount: int) -> None:
            flag = run(self._provider_refund(topup, amount))
            if amount > self.refundable[topup]:
                assert flag == "refund_exceeds_payment"
                return
            # Already refunded at the provider: what the balance cannot cover (spent, or held
            # for jobs) is written off, and the flag asks a person to follow up.
            assert flag == ("refund_exceeds_balance" if amount > self.balance else None)
            self.refundable[topup] -= amount
            self.balance -= min(self.balance, amount)

        async def _grant(self, amount: int, key: str) -> ledger.Posted:
            async with db.system_session() as s:
                return await payments.grant_credit(
                    s, config, self.user, amount, None, "stateful test", key
                )

        @rule(amount=st.integers(1, 2000))
        def grant(self, amount: int) -> None:
            key = str(uuid.uuid4())
            assert not run(self._grant(amount, key)).replayed
            self.grants.append((key, amount))
            self.balance += amount

        @rule(data=st.data())
        def replay_a_grant(self, data: st.DataObject) -> None:
            if not self.grants:
                return
            key, amount = data.draw(st.sampled_from(self.grants))
            assert run(self._grant(amount, key)).replayed
            with pytest.raises(ledger.IdempotencyKeyReused):
                run(self._grant(amount + 1, key))

        @invariant()
        def matches_the_model_and_its_entries(self) -> None:
            stored, wallet_sum, reserved_sum = run(invariants(db, self.user))
            assert stored.balance == wallet_sum == self.balance >= 0
            assert stored.reserved == reserved_sum == self.reserved >= 0

    return Wallet


def test_wallet_state_machine(prepared: PreparedDatabase, settings: Settings) -> None:
    loop = asyncio.new_event_loop()
    db = prepared.open(pool_size=2)
    config = settings.model_copy(update={"job_price_per_minute": {"USD": PRICE}})
    try:
        run_state_machine_as_test(
            machine(db, loop, config),
            settings=settings_for_run(),
        )
    finally:
        loop.run_until_complete(db.dispose())
        loop.close()


def settings_for_run() -> settings:
    return settings(
        max_examples=30,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
