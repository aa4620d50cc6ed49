"""ledger posts in one round trip: `ledger_post()` checks the idempotency key, versions the
wallet under its row lock and writes the transaction and its entries in one call (P4, issue 13)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 10:40:00

The rules of 0006 stay where they are (the triggers, the unique indexes, the CHECKs, RLS): this
function is one more writer that goes through them, not a way around them. It runs as the
calling role (SECURITY INVOKER), so forced RLS still scopes a user's request to that user's
wallet and lets the application role write only its own `wallet` and `reserved` entries.
"""

from __future__ import annotations

from typing import Any

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SIGNATURE = "ledger_post(uuid, text, text, bytea, text, text, text, text[], bigint[], timestamptz)"


def upgrade(roles: Any) -> None:
    # Refusals a caller may recover from inside its own transaction (a replay, a key reused,
    # no wallet, another currency, too little money, releasing more than is held) come back as
    # `outcome`, never as an error: an error would abort the caller's transaction, and today's
    # callers catch InsufficientFunds and carry on in theirs. Only what no correct caller
    # sends (entries that do not balance) raises.
    #
    # Order under concurrency, at READ COMMITTED: the key is looked up once without a lock (a
    # replay waits for nobody), then the wallet row is locked (FOR NO KEY UPDATE, the same
    # lock the UPDATE takes, so no new lock order), and the key is looked up again: each
    # statement takes a new snapshot, so a writer of the same key that committed while this
    # one waited is seen now and answered as a replay. Writers of one wallet queue on its row
    # lock instead of losing optimistic races and retrying from the client.
    #
    # The UPDATE finds the row by the ctid the lock returned: no one else can replace that row
    # version while the lock is held, and it spares a second search of `wallets` (where every
    # row looked at is also checked against the RLS policy).
    op.execute(
        """
        CREATE FUNCTION ledger_post(
            p_user_id uuid,
            p_kind text,
            p_idempotency_key text,
            p_request_hash bytea,
            p_currency text,
            p_reference text,
            p_memo text,
            p_accounts text[],
            p_amounts bigint[],
            p_at timestamptz,
            OUT outcome text,
            OUT transaction_id uuid,
            OUT balance bigint,
            OUT reserved bigint,
            OUT ledger_version bigint,
            OUT currency text
        )
        LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public, pg_temp
        AS $$
        DECLARE
            entries integer;
            total numeric;
            malformed integer;
            moved_balance bigint;
            moved_reserved bigint;
            held record;
            earlier record;
        BEGIN
            SELECT count(*), sum(e.amount),
                   count(*) FILTER (WHERE e.account IS NULL OR e.amount IS NULL
                                       OR e.amount = 0),
                   coalesce(sum(e.amount) FILTER (WHERE e.account = 'wallet'), 0),
                   coalesce(sum(e.amount) FILTER (WHERE e.account = 'reserved'), 0)
              INTO entries, total, malformed, moved_balance, moved_reserved
              FROM unnest(p_accounts, p_amounts) AS e(account, amount);
            IF entries < 2 OR total IS DISTINCT FROM 0 OR malformed > 0 THEN
                RAISE EXCEPTION 'ledger transaction does not balance (sum %, % entries)',
                    total, entries USING ERRCODE = 'check_violation';
            END IF;

            FOR pass IN 1..2 LOOP
                SELECT t.id, t.request_hash, t.balance_after, t.reserved_after,
                       t.ledger_version, t.currency
                  INTO earlier
                  FROM ledger_transactions t
                 WHERE t.user_id = p_user_id AND t.idempotency_key = p_idempotency_key;
                IF FOUND THEN
                    IF earlier.request_hash <> p_request_hash THEN
                        outcome := 'reused';
                        RETURN;
                    END IF;
                    outcome := 'replayed';
                    transaction_id := earlier.id;
                    balance := earlier.balance_after;
                    reserved := earlier.reserved_after;
                    ledger_version := earlier.ledger_version;
                    currency := earlier.currency;
                    RETURN;
                END IF;
                EXIT WHEN pass = 2;
                SELECT w.ctid, w.currency, w.balance, w.reserved, w.ledger_version
                  INTO held
                  FROM wallets w
                 WHERE w.user_id = p_user_id
                   FOR NO KEY UPDATE;
                IF NOT FOUND THEN
                    outcome := 'missing';
                    RETURN;
                END IF;
            END LOOP;

            currency := held.currency;
            balance := held.balance;
            reserved := held.reserved;
            ledger_version := held.ledger_version;
            IF held.currency <> p_currency THEN
                outcome := 'currency';
                RETURN;
            END IF;
            IF held.balance + moved_balance < 0 THEN
                outcome := 'insufficient';
                RETURN;
            END IF;
            IF held.reserved + moved_reserved < 0 THEN
                outcome := 'over-release';
                RETURN;
            END IF;

            balance := held.balance + moved_balance;
            reserved := held.reserved + moved_reserved;
            ledger_version := held.ledger_version + 1;
            UPDATE wallets w
               SET balance = ledger_post.balance,
                   reserved = ledger_post.reserved,
                   ledger_version = ledger_post.ledger_version,
                   updated_at = p_at
             WHERE w.ctid = held.ctid;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'wallet % was not updated under its lock', p_user_id;
            END IF;
            transaction_id := gen_random_uuid();
            INSERT INTO ledger_transactions (
                id, user_id, kind, idempotency_key, request_hash, currency, reference, memo,
                balance_after, reserved_after, ledger_version, created_at
            ) VALUES (
                transaction_id, p_user_id, p_kind, p_idempotency_key, p_request_hash,
                p_currency, p_reference, p_memo, balance, reserved, ledger_version, p_at
            );
            INSERT INTO ledger_entries (
                id, transaction_id, user_id, account, amount, currency, created_at
            )
            SELECT gen_random_uuid(), ledger_post.transaction_id, p_user_id, e.account,
                   e.amount, p_currency, p_at
              FROM unnest(p_accounts, p_amounts) AS e(account, amount);
            outcome := 'posted';
        END
        $$
        """
    )
    # Like the tables, the function is the owner's; only the two serving roles may call it.
    op.execute(f"REVOKE ALL ON FUNCTION {SIGNATURE} FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION {SIGNATURE} TO "{roles.app}", "{roles.system}"')


def downgrade(roles: Any) -> None:
    op.execute(f"DROP FUNCTION {SIGNATURE}")
