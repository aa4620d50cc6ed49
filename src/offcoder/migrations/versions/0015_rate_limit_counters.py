"""rate-limit counters: one row per fixed window of a limit and a client address or user,
UNLOGGED, reached by the system role alone (decision 0025)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade(roles: Any) -> None:
    # UNLOGGED: a counter is worth nothing after a crash (the table comes back empty, which
    # admits a window's calls again), and not writing it to the WAL is most of a hit's cost.
    # Standbys do not see it either: after a failover the counts start again.
    op.create_table(
        "rate_limit_counters",
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("hits", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limit_counters")),
        prefixes=["UNLOGGED"],
    )
    op.create_index(
        op.f("ix_rate_limit_counters_expires_at"),
        "rate_limit_counters",
        ["expires_at"],
        unique=False,
    )
    # Like the sign-in tables: forced RLS with no policy for the application role, so only the
    # system role counts. A user's transaction can neither read nor reset anyone's counts.
    system = roles.system
    op.execute("ALTER TABLE rate_limit_counters ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE rate_limit_counters FORCE ROW LEVEL SECURITY")
    op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON rate_limit_counters TO "{system}"')


def downgrade(roles: Any) -> None:
    op.drop_index(op.f("ix_rate_limit_counters_expires_at"), table_name="rate_limit_counters")
    op.drop_table("rate_limit_counters")
