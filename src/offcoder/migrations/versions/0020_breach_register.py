"""the breach register, the notification e-mail queue and the sub-processor list (V2, V4;
decision 0034). The register and the list are append-only in the database: a trigger refuses
UPDATE, DELETE and TRUNCATE whoever asks, and the system role is granted only SELECT and INSERT.
The application role gets nothing: only admin routes (system role) and the public page read them.

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-07 20:10:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0020"
down_revision = "0018"
branch_labels = None
depends_on = None

APPEND_ONLY = ("incident_versions", "subprocessor_versions")


def upgrade(roles: Any) -> None:
    tz = sa.DateTime(timezone=True)
    jsonb = postgresql.JSONB(astext_type=sa.Text())
    op.create_table(
        "incident_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("recorded_at", tz, nullable=False),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("change_note", sa.Text(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detected_at", tz, nullable=False),
        sa.Column("aware_at", tz, nullable=False),
        sa.Column("occurred_at", tz, nullable=True),
        sa.Column("contained_at", tz, nullable=True),
        sa.Column("nature", jsonb, nullable=False),
        sa.Column("data_categories", jsonb, nullable=False),
        sa.Column("people_count", sa.Integer(), nullable=True),
        sa.Column("people_estimated", sa.Boolean(), nullable=False),
        sa.Column("records_count", sa.Integer(), nullable=True),
        sa.Column("records_estimated", sa.Boolean(), nullable=False),
        sa.Column("jurisdictions", jsonb, nullable=False),
        sa.Column("consequences", sa.Text(), nullable=False),
        sa.Column("measures_taken", sa.Text(), nullable=False),
        sa.Column("measures_planned", sa.Text(), nullable=False),
        sa.Column("advice", sa.Text(), nullable=False),
        sa.Column("severity_dpc", sa.Float(), nullable=True),
        sa.Column("severity_ei", sa.Float(), nullable=True),
        sa.Column("severity_cb", sa.Float(), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=True),
        sa.Column("notify_authority", sa.Boolean(), nullable=True),
        sa.Column("notify_people", sa.Boolean(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=False),
        sa.Column("authority_notifications", jsonb, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_versions")),
        sa.UniqueConstraint(
            "incident_id", "version", name=op.f("uq_incident_versions_incident_id")
        ),
    )
    op.create_index(op.f("ix_incident_versions_incident_id"), "incident_versions", ["incident_id"])
    op.create_table(
        "notification_emails",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("incident_version", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("queued_at", tz, nullable=False),
        sa.Column("queued_by", sa.String(length=120), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", tz, nullable=True),
        sa.Column("last_attempt_at", tz, nullable=True),
        sa.Column("sent_at", tz, nullable=True),
        sa.Column("failed_at", tz, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_emails_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_emails")),
        sa.UniqueConstraint(
            "incident_id", "user_id", name=op.f("uq_notification_emails_incident_id")
        ),
    )
    op.create_index(
        op.f("ix_notification_emails_incident_id"), "notification_emails", ["incident_id"]
    )
    op.create_index(op.f("ix_notification_emails_user_id"), "notification_emails", ["user_id"])
    op.create_index(
        op.f("ix_notification_emails_next_attempt_at"), "notification_emails", ["next_attempt_at"]
    )
    op.create_table(
        "subprocessor_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("data_categories", jsonb, nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("transfer_mechanism", sa.String(length=200), nullable=False),
        sa.Column("added_on", tz, nullable=False),
        sa.Column("changed_at", tz, nullable=False),
        sa.Column("changed_by", sa.String(length=120), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subprocessor_versions")),
    )
    op.create_index(op.f("ix_subprocessor_versions_name"), "subprocessor_versions", ["name"])

    op.execute(
        """
        CREATE FUNCTION append_only_history() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    system = roles.system
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION append_only_history()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION append_only_history()"
        )
        op.execute(f'GRANT SELECT, INSERT ON {table} TO "{system}"')
    # The queue's send columns change as the worker tries; nobody deletes a row.
    op.execute(f'GRANT SELECT, INSERT, UPDATE ON notification_emails TO "{system}"')
    # Forced RLS with no policy: the application role sees none of it.
    for table in (*APPEND_ONLY, "notification_emails"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def downgrade(roles: Any) -> None:
    for table in APPEND_ONLY:
        op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
    op.execute("DROP FUNCTION append_only_history()")
    op.drop_table("subprocessor_versions")
    op.drop_table("notification_emails")
    op.drop_table("incident_versions")
