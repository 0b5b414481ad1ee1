"""retry: a request made again links to the one it retries

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 14:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sms_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retry_of", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sms_requests", schema=None) as batch_op:
        batch_op.drop_column("retry_of")
