"""ai flags: the database itself ties a flag to an output of its reporter, one open flag per
output and reporter (S2, defence in depth)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 01:30:00
"""

from __future__ import annotations

from typing import Any

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OWNER = "user_id = app_current_user_id()"
# ai_outputs is under RLS too: inside the policy, the subquery sees only the caller's outputs.
OWN_OUTPUT = "EXISTS (SELECT 1 FROM ai_outputs o WHERE o.id = output_id)"


def upgrade(roles: Any) -> None:
    app = roles.app
    # The code already checks both; the database now refuses them as well, whatever the code.
    op.execute("DROP POLICY ai_flags_owner ON ai_flags")
    op.execute(
        f'CREATE POLICY ai_flags_owner ON ai_flags TO "{app}" '
        f"USING ({OWNER}) WITH CHECK ({OWNER} AND {OWN_OUTPUT})"
    )
    op.execute(
        "CREATE UNIQUE INDEX uq_ai_flags_open ON ai_flags (output_id, user_id) "
        "WHERE status = 'open'"
    )


def downgrade(roles: Any) -> None:
    app = roles.app
    op.execute("DROP INDEX uq_ai_flags_open")
    op.execute("DROP POLICY ai_flags_owner ON ai_flags")
    op.execute(
        f'CREATE POLICY ai_flags_owner ON ai_flags TO "{app}" USING ({OWNER}) WITH CHECK ({OWNER})'
    )
