"""ai gateway: outputs, blocked texts by hash, flags and learned exemplars (S1, S2), forced RLS

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 22:40:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade(roles: Any) -> None:
    op.create_table(
        "ai_outputs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_ai_outputs_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_outputs")),
    )
    op.create_index(op.f("ix_ai_outputs_user_id"), "ai_outputs", ["user_id"], unique=False)
    op.create_table(
        "ai_safety_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("stage", sa.String(length=8), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=True),
        sa.Column("text_sha256", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "category <> 'csam' OR text IS NULL", name=op.f("ck_ai_safety_events_no_csam_text")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_ai_safety_events_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_safety_events")),
    )
    op.create_index(
        op.f("ix_ai_safety_events_user_id"), "ai_safety_events", ["user_id"], unique=False
    )
    op.create_index(
        op.f("ix_ai_safety_events_category"), "ai_safety_events", ["category"], unique=False
    )
    op.create_table(
        "ai_flags",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("output_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("resolved_by", sa.Uuid(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["output_id"],
            ["ai_outputs.id"],
            name=op.f("fk_ai_flags_output_id_ai_outputs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_ai_flags_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_flags")),
    )
    op.create_index(op.f("ix_ai_flags_output_id"), "ai_flags", ["output_id"], unique=False)
    op.create_index(op.f("ix_ai_flags_user_id"), "ai_flags", ["user_id"], unique=False)
    op.create_index(op.f("ix_ai_flags_status"), "ai_flags", ["status"], unique=False)
    op.create_table(
        "ai_safety_exemplars",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("phrase", sa.Text(), nullable=False),
        sa.Column("flag_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["flag_id"],
            ["ai_flags.id"],
            name=op.f("fk_ai_safety_exemplars_flag_id_ai_flags"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_safety_exemplars")),
    )
    app, system = roles.app, roles.system
    # Exemplars belong to no user: the system role writes them (admin resolutions), every
    # request may read them (the classifier uses them for everyone).
    op.execute("ALTER TABLE ai_safety_exemplars ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE ai_safety_exemplars FORCE ROW LEVEL SECURITY")
    op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ai_safety_exemplars TO "{system}"')
    op.execute(
        "CREATE POLICY ai_safety_exemplars_read ON ai_safety_exemplars FOR SELECT "
        f'TO "{app}" USING (true)'
    )
    op.execute(f'GRANT SELECT ON ai_safety_exemplars TO "{app}"')
    op.execute(f'GRANT SELECT, INSERT ON ai_flags TO "{app}"')
    for table in ("ai_flags",):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO "{system}"')
        op.execute(
            f'CREATE POLICY {table}_owner ON {table} TO "{app}" '
            "USING (user_id = app_current_user_id()) "
            "WITH CHECK (user_id = app_current_user_id())"
        )
    for table in ("ai_outputs", "ai_safety_events"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO "{system}"')
        op.execute(
            f'CREATE POLICY {table}_owner ON {table} TO "{app}" '
            "USING (user_id = app_current_user_id()) "
            "WITH CHECK (user_id = app_current_user_id())"
        )
    # The user's request writes its output and its blocks; it never rewrites or erases them.
    op.execute(f'GRANT SELECT, INSERT ON ai_outputs TO "{app}"')
    op.execute(f'GRANT INSERT ON ai_safety_events TO "{app}"')


def downgrade(roles: Any) -> None:
    op.drop_table("ai_safety_exemplars")
    op.drop_table("ai_flags")
    op.drop_table("ai_safety_events")
    op.drop_table("ai_outputs")
