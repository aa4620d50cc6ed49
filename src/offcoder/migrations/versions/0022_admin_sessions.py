"""admin dashboard sessions, and suspended accounts (issue 18 item 1; decision 0036).

`admin_sessions` holds the dashboard's server-side sessions (the browser holds only an opaque
token, stored here as SHA-256): system role only, like the other sign-in tables.
`admin_webauthn_credentials` holds admins' WebAuthn public keys (py_webauthn).
`users.suspended_at` marks an account a support admin suspended.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 20:20:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade(roles: Any) -> None:
    op.add_column("users", sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "admin_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("device_session_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("factor", sa.String(length=16), nullable=True),
        sa.Column("factor_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.Column("webauthn_challenge", sa.LargeBinary(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_admin_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["device_session_id"],
            ["device_sessions.id"],
            name=op.f("fk_admin_sessions_device_session_id_device_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_admin_sessions_token_hash")),
    )
    op.create_index(op.f("ix_admin_sessions_user_id"), "admin_sessions", ["user_id"], unique=False)
    op.create_table(
        "admin_webauthn_credentials",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("credential_id", sa.LargeBinary(length=1023), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_admin_webauthn_credentials_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_webauthn_credentials")),
        sa.UniqueConstraint(
            "credential_id", name=op.f("uq_admin_webauthn_credentials_credential_id")
        ),
    )
    op.create_index(
        op.f("ix_admin_webauthn_credentials_user_id"),
        "admin_webauthn_credentials",
        ["user_id"],
        unique=False,
    )
    # Forced RLS with no policy for the application role: only the system role (the admin
    # dashboard, behind its own sign-in) reads or writes them.
    system = roles.system
    for table in ("admin_sessions", "admin_webauthn_credentials"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO "{system}"')


def downgrade(roles: Any) -> None:
    op.drop_index(
        op.f("ix_admin_webauthn_credentials_user_id"), table_name="admin_webauthn_credentials"
    )
    op.drop_table("admin_webauthn_credentials")
    op.drop_index(op.f("ix_admin_sessions_user_id"), table_name="admin_sessions")
    op.drop_table("admin_sessions")
    op.drop_column("users", "suspended_at")
