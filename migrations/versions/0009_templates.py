"""message templates, and which template a request used

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 16:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store import audit_view

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_templates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("message_text", sa.Text(), nullable=False),
        sa.Column("data_coding", sa.String(length=16), nullable=False),
        sa.Column("sim_type", sa.String(length=64), nullable=True),
        sa.Column("group_name", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_templates")),
    )
    op.create_index("ix_message_templates_name", "message_templates", ["name"], unique=False)
    op.execute(audit_view.DROP_SQL)  # SQLite cannot rebuild `sms_requests` under a view
    with op.batch_alter_table("sms_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("template_name", sa.String(length=40), nullable=True))
    op.execute(audit_view.create_sql(op.get_bind().dialect.name))


def downgrade() -> None:
    op.execute(audit_view.DROP_SQL)
    with op.batch_alter_table("sms_requests", schema=None) as batch_op:
        batch_op.drop_column("template_name")
    op.execute(audit_view.create_sql(op.get_bind().dialect.name))
    op.drop_index("ix_message_templates_name", table_name="message_templates")
    op.drop_table("message_templates")
