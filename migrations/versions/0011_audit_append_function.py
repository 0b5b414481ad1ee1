"""the audit chain's append as one statement on PostgreSQL (smsbot_audit_append)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 22:40:00
"""

from collections.abc import Sequence

from alembic import op

from bot.store.audit_sql import APPEND_FUNCTION_V1, DROP_APPEND_FUNCTION

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite has one writer at a time anyway: the chain is appended from Python there.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_FUNCTION_V1)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DROP_APPEND_FUNCTION)
