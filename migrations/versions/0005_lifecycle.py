"""lifecycle: jobs claimed in the database, event cursors, delivery polling, recovery states,
and the embedded sandbox's own SMS log

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATES = (
    "state IN ('recorded','awaiting_approval','approved','sending','accepted',"
    "'rejected','unknown','refused','expired','cancelled','declined')"
)
NEW_STATES = (
    "state IN ('recorded','awaiting_approval','approved','sending','accepted',"
    "'rejected','unknown','refused','expired','cancelled','declined','abandoned','not_sent')"
)


def upgrade() -> None:
    with op.batch_alter_table("sms_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("delivery_polls", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.drop_constraint(op.f("ck_sms_requests_state"), type_="check")
        batch_op.create_check_constraint(op.f("ck_sms_requests_state"), sa.text(NEW_STATES))
        batch_op.create_index(
            "ix_sms_requests_state_next_poll", ["state", "next_poll_at"], unique=False
        )

    op.create_table(
        "job_runs",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_ok", sa.Boolean(), nullable=True),
        sa.Column("last_result", sa.Text(), nullable=True),
        sa.Column("last_owner", sa.String(length=64), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_runs")),
    )
    op.create_table(
        "event_cursors",
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("consumer", name=op.f("pk_event_cursors")),
    )
    # The Slack renderer starts where the log stands now: history is not posted again.
    op.execute(
        "INSERT INTO event_cursors (consumer, seq) "
        "SELECT 'slack', COALESCE(MAX(seq), 0) FROM audit_log"
    )
    op.create_table(
        "sandbox_sms_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("iccid", sa.String(length=22), nullable=False),
        sa.Column("sms_uid", sa.String(length=12), nullable=True),
        sa.Column("message_text", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("receipt_pushed", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_sms_log")),
    )
    op.create_index("ix_sandbox_sms_log_iccid_id", "sandbox_sms_log", ["iccid", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sandbox_sms_log_iccid_id", table_name="sandbox_sms_log")
    op.drop_table("sandbox_sms_log")
    op.drop_table("event_cursors")
    op.drop_table("job_runs")
    with op.batch_alter_table("sms_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_sms_requests_state_next_poll")
        batch_op.drop_constraint(op.f("ck_sms_requests_state"), type_="check")
        batch_op.create_check_constraint(op.f("ck_sms_requests_state"), sa.text(OLD_STATES))
        batch_op.drop_column("delivery_polls")
        batch_op.drop_column("next_poll_at")
