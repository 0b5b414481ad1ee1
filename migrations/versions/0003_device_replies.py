"""device replies

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 09:25:17.585464
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "device_replies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("iccid", sa.String(length=22), nullable=False),
        sa.Column("msisdn", sa.String(length=20), nullable=True),
        sa.Column("sent_timestamp", sa.String(length=32), nullable=True),
        sa.Column("message_text", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_replies")),
        sa.UniqueConstraint("digest", name=op.f("uq_device_replies_digest")),
    )
    with op.batch_alter_table("device_replies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_replies_iccid"), ["iccid"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("device_replies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_replies_iccid"))

    op.drop_table("device_replies")
