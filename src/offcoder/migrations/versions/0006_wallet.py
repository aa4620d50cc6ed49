"""wallet: double-entry ledger, top-ups, refunds, provider events, plans, job charges (P1-P4)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 21:40:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade(roles: Any) -> None:
    op.create_table(
        "wallets",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("reserved", sa.BigInteger(), nullable=False),
        sa.Column("ledger_version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_wallets_balance_not_negative")),
        sa.CheckConstraint("reserved >= 0", name=op.f("ck_wallets_reserved_not_negative")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_wallets_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_wallets")),
    )
    op.create_table(
        "ledger_transactions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=True),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("reserved_after", sa.BigInteger(), nullable=False),
        sa.Column("ledger_version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transactions")),
        sa.UniqueConstraint(
            "user_id", "idempotency_key", name=op.f("uq_ledger_transactions_idempotency")
        ),
        sa.UniqueConstraint(
            "user_id", "ledger_version", name=op.f("uq_ledger_transactions_version")
        ),
    )
    op.create_index(
        op.f("ix_ledger_transactions_reference"), "ledger_transactions", ["reference"], unique=False
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("transaction_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_entries_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_entries_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    op.create_index(
        op.f("ix_ledger_entries_transaction_id"), "ledger_entries", ["transaction_id"], unique=False
    )
    op.create_index("ix_ledger_entries_user_account", "ledger_entries", ["user_id", "account"])
    op.create_table(
        "topups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("provider_ref", sa.String(length=120), nullable=True),
        sa.Column("checkout_url", sa.Text(), nullable=True),
        sa.Column("provider_payment_id", sa.String(length=120), nullable=True),
        sa.Column("amount_refunded", sa.BigInteger(), nullable=False),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("credited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_topups_amount_positive")),
        sa.CheckConstraint(
            "amount_refunded >= 0 AND amount_refunded <= amount", name=op.f("ck_topups_refunded")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_topups_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topups")),
        sa.UniqueConstraint("user_id", "idempotency_key", name=op.f("uq_topups_idempotency")),
        sa.UniqueConstraint("provider", "provider_ref", name=op.f("uq_topups_provider_ref")),
    )
    op.create_index(op.f("ix_topups_user_id"), "topups", ["user_id"], unique=False)
    op.create_index(
        op.f("ix_topups_provider_payment_id"), "topups", ["provider_payment_id"], unique=False
    )
    op.create_table(
        "refunds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("topup_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("provider_refund_id", sa.String(length=120), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_refunds_amount_positive")),
        sa.ForeignKeyConstraint(
            ["topup_id"], ["topups.id"], name=op.f("fk_refunds_topup_id_topups"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint(
            "provider", "provider_refund_id", name=op.f("uq_refunds_provider_refund")
        ),
        sa.UniqueConstraint("topup_id", "idempotency_key", name=op.f("uq_refunds_idempotency")),
    )
    op.create_index(op.f("ix_refunds_topup_id"), "refunds", ["topup_id"], unique=False)
    op.create_index(op.f("ix_refunds_user_id"), "refunds", ["user_id"], unique=False)
    op.create_table(
        "payment_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=80), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("flag", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_events")),
        sa.UniqueConstraint("provider", "event_id", name=op.f("uq_payment_events_event")),
    )
    op.create_index(
        op.f("ix_payment_events_handled_at"), "payment_events", ["handled_at"], unique=False
    )
    op.create_table(
        "user_plans",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("plan", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("provider_subscription_id", sa.String(length=120), nullable=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_plans_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_plans")),
        sa.UniqueConstraint(
            "provider_subscription_id", name=op.f("uq_user_plans_provider_subscription_id")
        ),
    )
    op.add_column("jobs", sa.Column("charge_currency", sa.String(length=3), nullable=True))
    op.add_column("jobs", sa.Column("price_per_minute", sa.BigInteger(), nullable=True))
    op.add_column(
        "jobs", sa.Column("reserved_amount", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.add_column("jobs", sa.Column("charged_amount", sa.BigInteger(), nullable=True))
    ledger_rules()
    secure(roles)


def ledger_rules() -> None:
    """What the database itself holds true of the ledger, whatever code writes to it (P4)."""
    op.execute(
        """
        CREATE FUNCTION ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the ledger is append-only (% on %)', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    for table in ("ledger_transactions", "ledger_entries"):
        op.execute(
            f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ledger_immutable()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION ledger_immutable()"
        )
    # An entry belongs to a transaction of its own user and currency (the foreign key alone
    # would let a writer hang entries on someone else's transaction: it ignores RLS).
    op.execute(
        """
        CREATE FUNCTION ledger_entry_matches_transaction() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NOT EXISTS (
                SELECT 1 FROM ledger_transactions
                 WHERE id = NEW.transaction_id
                   AND user_id = NEW.user_id
                   AND currency = NEW.currency
            ) THEN
                RAISE EXCEPTION 'ledger entry % does not match its transaction', NEW.id
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER ledger_entries_match_transaction BEFORE INSERT ON ledger_entries "
        "FOR EACH ROW EXECUTE FUNCTION ledger_entry_matches_transaction()"
    )
    # Debits equal credits: checked at commit, once every entry of the transaction is in.
    op.execute(
        """
        CREATE FUNCTION ledger_transaction_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            total numeric;
            n integer;
        BEGIN
            SELECT coalesce(sum(amount), 0), count(*) INTO total, n
            FROM ledger_entries WHERE transaction_id = NEW.transaction_id;
            IF total <> 0 OR n < 2 THEN
                RAISE EXCEPTION 'ledger transaction % does not balance (sum %, % entries)',
                    NEW.transaction_id, total, n USING ERRCODE = 'check_violation';
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balanced()
        """
    )
    # A wallet changes only as its ledger says: the balance and reserved moved by exactly the
    # wallet entries of the transactions that took it from the old version to the new one.
    op.execute(
        """
        CREATE FUNCTION wallet_matches_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            moved_balance numeric := 0;
            moved_reserved numeric := 0;
            versions integer := 0;
            step record;
        BEGIN
            IF TG_OP = 'INSERT' THEN
                IF NEW.balance <> 0 OR NEW.reserved <> 0 OR NEW.ledger_version <> 0 THEN
                    RAISE EXCEPTION 'a wallet starts empty at version 0'
                        USING ERRCODE = 'check_violation';
                END IF;
                RETURN NULL;
            END IF;
            IF NEW.currency <> OLD.currency THEN
                RAISE EXCEPTION 'a wallet keeps its currency' USING ERRCODE = 'check_violation';
            END IF;
            -- One transaction at a time, its entries by transaction id: a single join let the
            -- planner (with RLS's user_id condition) scan the user's whole history instead.
            FOR step IN
                SELECT t.id FROM ledger_transactions t
                 WHERE t.user_id = NEW.user_id
                   AND t.ledger_version > OLD.ledger_version
                   AND t.ledger_version <= NEW.ledger_version
            LOOP
                versions := versions + 1;
                SELECT moved_balance + coalesce(sum(amount) FILTER (WHERE account = 'wallet'), 0),
                       moved_reserved + coalesce(sum(amount) FILTER (WHERE account = 'reserved'), 0)
                  INTO moved_balance, moved_reserved
                  FROM ledger_entries WHERE transaction_id = step.id;
            END LOOP;
            IF versions <> NEW.ledger_version - OLD.ledger_version
               OR NEW.balance - OLD.balance <> moved_balance
               OR NEW.reserved - OLD.reserved <> moved_reserved THEN
                RAISE EXCEPTION 'wallet % changed without matching ledger entries', NEW.user_id
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE CONSTRAINT TRIGGER wallets_match_ledger AFTER INSERT OR UPDATE ON wallets
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION wallet_matches_ledger()
        """
    )


def secure(roles: Any) -> None:
    app, system = roles.app, roles.system
    owned = ("wallets", "ledger_transactions", "ledger_entries", "topups", "refunds", "user_plans")
    for table in (*owned, "payment_events"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    for table in owned:
        op.execute(f'GRANT SELECT, INSERT, UPDATE ON {table} TO "{system}"')
        op.execute(
            f'CREATE POLICY {table}_owner ON {table} TO "{app}" '
            "USING (user_id = app_current_user_id()) "
            "WITH CHECK (user_id = app_current_user_id())"
        )
    # Erasing an account (system role) cascades to the wallet, top-ups, refunds and plan.
    for table in ("wallets", "topups", "refunds", "user_plans"):
        op.execute(f'GRANT DELETE ON {table} TO "{system}"')
    # Provider events belong to no user: only the system role (webhooks, the worker) sees them.
    op.execute(f'GRANT SELECT, INSERT, UPDATE ON payment_events TO "{system}"')
    # A user's own requests reserve money for their jobs (in the job's transaction) and open
    # top-ups; crediting, refunds and grants happen only as the system role.
    op.execute(f'GRANT SELECT, INSERT, UPDATE ON wallets TO "{app}"')
    op.execute(f'GRANT SELECT, INSERT ON ledger_transactions, ledger_entries TO "{app}"')
    # ... and only between the user's own wallet and reserved accounts: since every transaction
    # balances, the application role can hold and release money but never create it.
    op.execute(
        "CREATE POLICY ledger_entries_app_accounts ON ledger_entries AS RESTRICTIVE "
        f"FOR INSERT TO \"{app}\" WITH CHECK (account IN ('wallet', 'reserved'))"
    )
    op.execute(f'GRANT SELECT, INSERT ON topups TO "{app}"')
    op.execute(
        f"GRANT UPDATE (status, provider_ref, checkout_url, failure, updated_at) "
        f'ON topups TO "{app}"'
    )
    op.execute(f'GRANT SELECT ON refunds, user_plans TO "{app}"')


def downgrade(roles: Any) -> None:
    for column in ("charged_amount", "reserved_amount", "price_per_minute", "charge_currency"):
        op.drop_column("jobs", column)
    for table in (
        "user_plans",
        "payment_events",
        "refunds",
        "topups",
        "ledger_entries",
        "ledger_transactions",
        "wallets",
    ):
        op.drop_table(table)
    op.execute("DROP FUNCTION wallet_matches_ledger()")
    op.execute("DROP FUNCTION ledger_transaction_balanced()")
    op.execute("DROP FUNCTION ledger_entry_matches_transaction()")
    op.execute("DROP FUNCTION ledger_immutable()")
