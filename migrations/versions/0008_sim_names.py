"""SIMs by name: an MSISDN per SIM, and indexes to find SIMs by MSISDN and label

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store import audit_view

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(audit_view.DROP_SQL)  # SQLite cannot rebuild `sims` under a view
    with op.batch_alter_table("sims", schema=None) as batch_op:
        batch_op.add_column(sa.Column("msisdn", sa.String(length=20), nullable=True))
        batch_op.create_index("ix_sims_msisdn", ["msisdn"], unique=False)
        batch_op.create_index("ix_sims_label", ["label"], unique=False)
    op.execute(audit_view.create_sql(op.get_bind().dialect.name))


def downgrade() -> None:
    op.execute(audit_view.DROP_SQL)
    with op.batch_alter_table("sims", schema=None) as batch_op:
        batch_op.drop_index("ix_sims_label")
        batch_op.drop_index("ix_sims_msisdn")
        batch_op.drop_column("msisdn")
    op.execute(audit_view.create_sql(op.get_bind().dialect.name))
