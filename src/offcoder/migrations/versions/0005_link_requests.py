"""link requests: a sign-in started by a signed-in user to link another provider (A2)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 20:20:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade(roles: Any) -> None:
    op.add_column("authorization_requests", sa.Column("link_user_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_authorization_requests_link_user_id_users"),
        "authorization_requests",
        "users",
        ["link_user_id"],
        ["id"],
        ondelete="CASCADE",
    )


def downgrade(roles: Any) -> None:
    op.drop_constraint(
        op.f("fk_authorization_requests_link_user_id_users"),
        "authorization_requests",
        type_="foreignkey",
    )
    op.drop_column("authorization_requests", "link_user_id")
