"""a project's run command: the shell line the console's Run button runs (issue 17)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 19:10:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade(roles: Any) -> None:
    # A column of a table whose row-level security is already forced (0001): the owner's
    # policies cover it, nothing to grant. NULL: never set, the console proposes one.
    op.add_column("projects", sa.Column("run_command", sa.String(length=4096), nullable=True))


def downgrade(roles: Any) -> None:
    op.drop_column("projects", "run_command")
