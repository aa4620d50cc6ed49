"""dependency layers: a project's installed packages kept between its jobs, under forced RLS
(D1); the workers' list of layer volumes they made (system role only); jobs say their kind

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade(roles: Any) -> None:
    op.add_column(
        "jobs", sa.Column("kind", sa.String(length=16), nullable=False, server_default="run")
    )
    op.create_table(
        "dependency_layers",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("ecosystem", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("install_job_id", sa.Uuid(), nullable=True),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("building_job_id", sa.Uuid(), nullable=True),
        sa.Column("building_manifest_sha256", sa.String(length=64), nullable=True),
        sa.Column("failed_job_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["project_id", "user_id"],
            ["projects.id", "projects.user_id"],
            name=op.f("fk_dependency_layers_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "ecosystem", name=op.f("pk_dependency_layers")),
    )
    op.create_index(
        op.f("ix_dependency_layers_user_id"), "dependency_layers", ["user_id"], unique=False
    )
    op.create_table(
        "dependency_volumes",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_dependency_volumes")),
    )
    secure(roles)


def downgrade(roles: Any) -> None:
    op.drop_table("dependency_volumes")
    op.drop_index(op.f("ix_dependency_layers_user_id"), table_name="dependency_layers")
    op.drop_table("dependency_layers")
    op.drop_column("jobs", "kind")


def secure(roles: Any) -> None:
    app, system = roles.app, roles.system
    for table in ("dependency_layers", "dependency_volumes"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO "{system}"')
    op.execute(
        f'CREATE POLICY dependency_layers_owner ON dependency_layers TO "{app}" '
        "USING (user_id = app_current_user_id()) "
        "WITH CHECK (user_id = app_current_user_id())"
    )
    # A user asks for installs and reads their layers; the worker (under the owner's RLS)
    # switches a layer once its install succeeded. No grant on dependency_volumes: it is the
    # workers' own list, reached by the system role alone.
    op.execute(f'GRANT SELECT, INSERT, UPDATE ON dependency_layers TO "{app}"')
