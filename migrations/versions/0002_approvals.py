"""approvals: who approved which request (bound to its hash), quorum, expiry, decisions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 08:43:27.572119
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATES = (
    "state IN ('recorded','awaiting_approval','approved','sending','accepted',"
    "'rejected','unknown','refused','expired','cancelled')"
)
NEW_STATES = (
    "state IN ('recorded','awaiting_approval','approved','sending','accepted',"
    "'rejected','unknown','refused','expired','cancelled','declined')"
)


def upgrade() -> None:
    with op.batch_alter_table("sms_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approval_channel", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("approval_ts", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("approvals_needed", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("decided_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("decision_reason", sa.Text(), nullable=True))
        batch_op.drop_constraint(op.f("ck_sms_requests_state"), type_="check")
        batch_op.create_check_constraint(op.f("ck_sms_requests_state"), sa.text(NEW_STATES))

    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("approver", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["sms_requests.id"], name=op.f("fk_approvals_request_id_sms_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
        sa.UniqueConstraint("request_id", "approver", name="one_per_approver"),
    )
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_approvals_request_id"), ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approvals_request_id"))
    op.drop_table("approvals")

    with op.batch_alter_table("sms_requests", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_sms_requests_state"), type_="check")
        batch_op.create_check_constraint(op.f("ck_sms_requests_state"), sa.text(OLD_STATES))
        batch_op.drop_column("decision_reason")
        batch_op.drop_column("decided_by")
        batch_op.drop_column("decided_at")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("approvals_needed")
        batch_op.drop_column("approval_ts")
        batch_op.drop_column("approval_channel")
