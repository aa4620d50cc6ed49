"""policy versions and consents (V3), grant requests waiting for a second admin (F11), data
exports (V3).

policy_versions: what operators publish, readable by everyone (the console asks for the current
one). consents: one row per acceptance, withdrawn_at set on withdrawal (the record stays);
forced RLS, the user's own rows only. grant_requests: system role only, like the other admin
money tables. data_exports: a user's export archives, their own rows readable by them.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 20:10:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade(roles: Any) -> None:
    app, system = roles.app, roles.system
    op.create_table(
        "policy_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("document", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_versions")),
        sa.UniqueConstraint("document", "version", name=op.f("uq_policy_versions_document")),
    )
    op.create_table(
        "consents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("document", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_consents_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    op.create_index(op.f("ix_consents_user_id"), "consents", ["user_id"], unique=False)
    op.create_table(
        "grant_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("plan", sa.String(length=32), nullable=True),
        sa.Column("days", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "amount IS NULL OR amount > 0", name=op.f("ck_grant_requests_amount_positive")
        ),
        sa.CheckConstraint(
            "decided_by IS NULL OR decided_by <> requested_by",
            name=op.f("ck_grant_requests_four_eyes"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_grant_requests_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grant_requests")),
        sa.UniqueConstraint(
            "user_id", "kind", "idempotency_key", name=op.f("uq_grant_requests_idempotency")
        ),
    )
    op.create_index(op.f("ix_grant_requests_user_id"), "grant_requests", ["user_id"], unique=False)

    op.create_table(
        "data_exports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("percent", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("archive", sa.LargeBinary(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_data_exports_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_exports")),
    )
    op.create_index(op.f("ix_data_exports_user_id"), "data_exports", ["user_id"], unique=False)
    op.create_index(op.f("ix_data_exports_status"), "data_exports", ["status"], unique=False)

    for table in ("policy_versions", "consents", "grant_requests", "data_exports"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO "{system}"')
    # Everyone reads what is published; only operators (system role) publish.
    op.execute(
        f'CREATE POLICY policy_versions_read ON policy_versions FOR SELECT TO "{app}" USING (true)'
    )
    op.execute(f'GRANT SELECT ON policy_versions TO "{app}"')
    # A user accepts and withdraws their own consent; nobody deletes a record of it (erasure
    # cascades from users as the owner).
    op.execute(
        f'CREATE POLICY consents_owner ON consents TO "{app}" '
        "USING (user_id = app_current_user_id()) "
        "WITH CHECK (user_id = app_current_user_id())"
    )
    op.execute(f'GRANT SELECT, INSERT, UPDATE ON consents TO "{app}"')
    # grant_requests: no policy for the application role; only finance admins (system role).
    # data_exports: a user asks for and reads their own; workers (system role) make and purge.
    op.execute(
        f'CREATE POLICY data_exports_owner ON data_exports TO "{app}" '
        "USING (user_id = app_current_user_id()) "
        "WITH CHECK (user_id = app_current_user_id())"
    )
    op.execute(f'GRANT SELECT, INSERT ON data_exports TO "{app}"')


def downgrade(roles: Any) -> None:
    op.drop_index(op.f("ix_data_exports_status"), table_name="data_exports")
    op.drop_index(op.f("ix_data_exports_user_id"), table_name="data_exports")
    op.drop_table("data_exports")
    op.drop_index(op.f("ix_grant_requests_user_id"), table_name="grant_requests")
    op.drop_table("grant_requests")
    op.drop_index(op.f("ix_consents_user_id"), table_name="consents")
    op.drop_table("consents")
    op.drop_table("policy_versions")
