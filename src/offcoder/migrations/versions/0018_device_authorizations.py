"""device authorizations: a terminal without a browser signs in from a phone (RFC 8628, the
device authorization grant; decision 0032). System role only, like the other sign-in tables.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 19:10:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade(roles: Any) -> None:
    op.create_table(
        "device_authorizations",
        sa.Column("device_code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("user_code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("device_name", sa.String(length=100), nullable=False),
        sa.Column("ip_prefix", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("provider", sa.String(length=32), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_device_authorizations_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("device_code_hash", name=op.f("pk_device_authorizations")),
        sa.UniqueConstraint("user_code_hash", name=op.f("uq_device_authorizations_user_code_hash")),
    )
    op.create_index(
        op.f("ix_device_authorizations_expires_at"),
        "device_authorizations",
        ["expires_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_device_authorizations_user_id"), "device_authorizations", ["user_id"], unique=False
    )
    # Forced RLS with no policy for the application role: only the system role (the sign-in
    # broker, the console's approval page, the purge) reads or writes it.
    system = roles.system
    op.execute("ALTER TABLE device_authorizations ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE device_authorizations FORCE ROW LEVEL SECURITY")
    op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON device_authorizations TO "{system}"')


def downgrade(roles: Any) -> None:
    op.drop_index(op.f("ix_device_authorizations_user_id"), table_name="device_authorizations")
    op.drop_index(op.f("ix_device_authorizations_expires_at"), table_name="device_authorizations")
    op.drop_table("device_authorizations")
