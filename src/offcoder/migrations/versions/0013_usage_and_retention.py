"""usage and retention: a job's log can be purged after the retention period (the row stays,
saying so), and the indexes that keep claiming, the per-user counts and the monthly usage cheap
(issue 14, items 2 and 8)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 13:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade(roles: Any) -> None:
    # When the job's output was deleted for retention; the row (ending, usage, cost) stays.
    op.add_column("jobs", sa.Column("log_purged_at", sa.DateTime(timezone=True), nullable=True))
    # Claiming and the per-user limits look jobs up by status, then person, oldest first (the
    # queued of each waiting person, one person's queued or running count). It leads with
    # status, so it replaces the status index; status is read as a parameter, which a partial
    # index on one status could not serve once PostgreSQL switches to a generic plan.
    op.create_index("ix_jobs_status_user", "jobs", ["status", "user_id", "created_at"])
    op.drop_index("ix_jobs_status", table_name="jobs")
    # When each person was last served, and this month's usage: a person's jobs by their end.
    op.create_index("ix_jobs_user_finished", "jobs", ["user_id", "finished_at"])
    # The retention purge finds the ended jobs whose log is still kept; purged rows leave it.
    op.create_index(
        "ix_jobs_log_kept",
        "jobs",
        ["finished_at"],
        postgresql_where=sa.text("log_purged_at IS NULL"),
    )


def downgrade(roles: Any) -> None:
    op.drop_index("ix_jobs_log_kept", table_name="jobs")
    op.drop_index("ix_jobs_user_finished", table_name="jobs")
    op.create_index("ix_jobs_status", "jobs", ["status"])
    op.drop_index("ix_jobs_status_user", table_name="jobs")
    op.drop_column("jobs", "log_purged_at")
