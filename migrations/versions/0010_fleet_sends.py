"""fleet sends: sms_batches, each request's batch, the `batched` state, the view's batch_id

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 18:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store import audit_view

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATES = (
    "state IN ('recorded','awaiting_approval','approved','sending','accepted',"
    "'rejected','unknown','refused','expired','cancelled','declined','abandoned','not_sent')"
)
NEW_STATES = (
    "state IN ('recorded','awaiting_approval','approved','sending','accepted',"
    "'rejected','unknown','refused','expired','cancelled','declined','abandoned',"
    "'not_sent','batched')"
)
BATCH_STATES = (
    "state IN ('awaiting_approval','sending','done','stopped','declined','expired','refused')"
)


def upgrade() -> None:
    op.create_table(
        "sms_batches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("requester", sa.String(length=64), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("group_name", sa.String(length=64), nullable=True),
        sa.Column("message_text", sa.Text(), nullable=False),
        sa.Column("data_coding", sa.String(length=16), nullable=False),
        sa.Column("template_name", sa.String(length=40), nullable=True),
        sa.Column("batch_hash", sa.String(length=64), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("approvals_needed", sa.Integer(), nullable=False),
        sa.Column("approval_channel", sa.String(length=32), nullable=True),
        sa.Column("approval_ts", sa.String(length=32), nullable=True),
        sa.Column("slack_channel", sa.String(length=32), nullable=True),
        sa.Column("slack_ts", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(BATCH_STATES, name=op.f("ck_sms_batches_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_batches")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_sms_batches_idempotency_key")),
    )
    op.create_index("ix_sms_batches_state", "sms_batches", ["state"], unique=False)
    op.execute(audit_view.DROP_SQL)  # SQLite cannot rebuild `sms_requests` under a view
    with op.batch_alter_table("sms_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_sms_requests_batch_id_sms_batches"), "sms_batches", ["batch_id"], ["id"]
        )
        batch_op.create_index("ix_sms_requests_batch_id", ["batch_id"], unique=False)
        batch_op.drop_constraint(op.f("ck_sms_requests_state"), type_="check")
        batch_op.create_check_constraint(op.f("ck_sms_requests_state"), sa.text(NEW_STATES))
    op.execute(audit_view.create_sql(op.get_bind().dialect.name, version=2))


def downgrade() -> None:
    op.execute(audit_view.DROP_SQL)
    with op.batch_alter_table("sms_requests", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_sms_requests_state"), type_="check")
        batch_op.create_check_constraint(op.f("ck_sms_requests_state"), sa.text(OLD_STATES))
        batch_op.drop_index("ix_sms_requests_batch_id")
        batch_op.drop_constraint(op.f("fk_sms_requests_batch_id_sms_batches"), type_="foreignkey")
        batch_op.drop_column("batch_id")
    op.execute(audit_view.create_sql(op.get_bind().dialect.name, version=1))
    op.drop_index("ix_sms_batches_state", table_name="sms_batches")
    op.drop_table("sms_batches")
