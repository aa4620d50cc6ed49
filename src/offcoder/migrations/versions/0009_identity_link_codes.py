"""identity link codes: a link is finished only by the user who started it, with PKCE and, for
the web console, the starting browser's cookie (A2)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 08:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade(roles: Any) -> None:
    op.add_column(
        "authorization_requests",
        sa.Column("browser_binding_hash", sa.LargeBinary(length=32), nullable=True),
    )
    op.create_table(
        "identity_link_codes",
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("email_verified", sa.Boolean(), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("browser_binding_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_identity_link_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_identity_link_codes")),
    )
    op.create_index(
        op.f("ix_identity_link_codes_user_id"), "identity_link_codes", ["user_id"], unique=False
    )
    # Like the other sign-in tables: forced RLS with no policy for the application role, so
    # only the system role (the sign-in broker) reads or writes it.
    system = roles.system
    op.execute("ALTER TABLE identity_link_codes ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE identity_link_codes FORCE ROW LEVEL SECURITY")
    op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON identity_link_codes TO "{system}"')


def downgrade(roles: Any) -> None:
    op.drop_index(op.f("ix_identity_link_codes_user_id"), table_name="identity_link_codes")
    op.drop_table("identity_link_codes")
    op.drop_column("authorization_requests", "browser_binding_hash")
