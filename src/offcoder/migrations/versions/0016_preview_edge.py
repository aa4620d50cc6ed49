"""preview edge: a project's stable preview label, every label ever given kept by its hash
(review F6), and the passes that let a browser into a preview (system role only)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 16:30:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade(roles: Any) -> None:
    op.add_column("projects", sa.Column("preview_label", sa.String(length=63), nullable=True))
    op.create_unique_constraint(op.f("uq_projects_preview_label"), "projects", ["preview_label"])
    op.create_table(
        "preview_labels",
        sa.Column("label_sha256", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_preview_labels_project_id_projects"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("label_sha256", name=op.f("pk_preview_labels")),
    )
    op.create_index(
        op.f("ix_preview_labels_project_id"), "preview_labels", ["project_id"], unique=False
    )
    op.create_table(
        "preview_passes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("link_id", sa.Uuid(), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_preview_passes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_preview_passes_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["preview_passes.id"],
            name=op.f("fk_preview_passes_link_id_preview_passes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preview_passes")),
    )
    op.create_index(op.f("ix_preview_passes_link_id"), "preview_passes", ["link_id"], unique=False)
    op.create_table(
        "preview_shares",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id", "user_id"],
            ["projects.id", "projects.user_id"],
            name=op.f("fk_preview_shares_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "port", name=op.f("pk_preview_shares")),
    )
    op.create_index(op.f("ix_preview_shares_user_id"), "preview_shares", ["user_id"], unique=False)
    op.create_index(
        op.f("ix_preview_passes_project_id"), "preview_passes", ["project_id"], unique=False
    )
    app, system = roles.app, roles.system
    op.execute("ALTER TABLE preview_shares ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE preview_shares FORCE ROW LEVEL SECURITY")
    op.execute(
        f'CREATE POLICY preview_shares_owner ON preview_shares TO "{app}" '
        "USING (user_id = app_current_user_id()) "
        "WITH CHECK (user_id = app_current_user_id())"
    )
    op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON preview_shares TO "{app}"')
    op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON preview_shares TO "{system}"')
    # The edge routes anonymous requests by host name and checks passes before any user is
    # known: both tables are the system role's alone (no grant, no policy for the app role).
    for table in ("preview_labels", "preview_passes"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO "{system}"')


def downgrade(roles: Any) -> None:
    op.drop_index(op.f("ix_preview_shares_user_id"), table_name="preview_shares")
    op.drop_table("preview_shares")
    op.drop_index(op.f("ix_preview_passes_link_id"), table_name="preview_passes")
    op.drop_index(op.f("ix_preview_passes_project_id"), table_name="preview_passes")
    op.drop_table("preview_passes")
    op.drop_index(op.f("ix_preview_labels_project_id"), table_name="preview_labels")
    op.drop_table("preview_labels")
    op.drop_constraint(op.f("uq_projects_preview_label"), "projects", type_="unique")
    op.drop_column("projects", "preview_label")
