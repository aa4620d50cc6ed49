"""job endings: the reason codes `timeout` and `oom_killed` become `timed_out` and
`memory_limit`, and a cancel records who asked (`cancelled_by`: owner or operator) (issue 14)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 13:30:00

The two codes are renamed once, before any client outside this repository switched on them, so
every stored ending speaks the codes docs/api.md lists; from here on a code is only ever added.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

RENAMED = {"timeout": "timed_out", "oom_killed": "memory_limit"}


@contextmanager
def _every_row() -> Iterator[None]:
    """RLS is forced on jobs and no policy admits the owner role the migrations run as, so a
    data change would see no row: for this transaction only, the owner sees its whole table."""
    op.execute("ALTER TABLE jobs NO FORCE ROW LEVEL SECURITY")
    yield
    op.execute("ALTER TABLE jobs FORCE ROW LEVEL SECURITY")


def _rename(renames: dict[str, str]) -> None:
    for old, new in renames.items():
        op.execute(
            sa.text("UPDATE jobs SET reason = :new WHERE reason = :old").bindparams(
                old=old, new=new
            )
        )


def upgrade(roles: Any) -> None:
    op.add_column("jobs", sa.Column("cancelled_by", sa.String(16), nullable=True))
    op.create_check_constraint(
        op.f("ck_jobs_cancelled_by"), "jobs", "cancelled_by IN ('owner', 'operator')"
    )
    with _every_row():
        _rename(RENAMED)
        # Until now only owners could cancel.
        op.execute("UPDATE jobs SET cancelled_by = 'owner' WHERE cancel_requested_at IS NOT NULL")


def downgrade(roles: Any) -> None:
    with _every_row():
        _rename({new: old for old, new in RENAMED.items()})
    op.drop_constraint(op.f("ck_jobs_cancelled_by"), "jobs", type_="check")
    op.drop_column("jobs", "cancelled_by")
