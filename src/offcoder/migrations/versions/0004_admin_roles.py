"""admin roles: least-privilege roles granted by operators (O4), under forced RLS (D1)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 20:10:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade(roles: Any) -> None:
    op.create_table(
        "admin_roles",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("granted_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_admin_roles_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "role", name=op.f("pk_admin_roles")),
    )
    app, system = roles.app, roles.system
    op.execute("ALTER TABLE admin_roles ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE admin_roles FORCE ROW LEVEL SECURITY")
    op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON admin_roles TO "{system}"')
    # A user may see their own roles; nobody grants through the application role.
    op.execute(
        f'CREATE POLICY admin_roles_owner ON admin_roles FOR SELECT TO "{app}" '
        "USING (user_id = app_current_user_id())"
    )
    op.execute(f'GRANT SELECT ON admin_roles TO "{app}"')


def downgrade(roles: Any) -> None:
    op.drop_table("admin_roles")
