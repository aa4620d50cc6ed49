"""link code retention: a spent link code is deleted, not kept as used; expired link codes and
sign-in requests are purged by their expiry (A2, V3)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 09:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade(roles: Any) -> None:
    # A link code holds a provider account's subject and e-mail: spending it deletes it, so
    # there is no "used" state left to record.
    op.execute("DELETE FROM identity_link_codes WHERE used_at IS NOT NULL")
    op.drop_column("identity_link_codes", "used_at")
    # The opportunistic purge at each sign-in or link start deletes a bounded batch of expired
    # rows; these keep it an index range scan however large the tables grew before.
    op.create_index(
        op.f("ix_identity_link_codes_expires_at"), "identity_link_codes", ["expires_at"]
    )
    op.create_index(
        op.f("ix_authorization_requests_expires_at"), "authorization_requests", ["expires_at"]
    )


def downgrade(roles: Any) -> None:
    op.drop_index(op.f("ix_authorization_requests_expires_at"), table_name="authorization_requests")
    op.drop_index(op.f("ix_identity_link_codes_expires_at"), table_name="identity_link_codes")
    op.add_column(
        "identity_link_codes",
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
