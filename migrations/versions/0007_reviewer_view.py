"""the reviewer's view: one row per request (sms_audit_view), binary payloads as hex, an index on
request time

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 16:30:00
"""

import base64
import binascii
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store import audit_view

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _hex(text: str) -> str | None:
    try:
        return base64.b64decode(text, validate=True).hex()
    except (binascii.Error, ValueError):
        return None


def upgrade() -> None:
    with op.batch_alter_table("sms_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload_hex", sa.Text(), nullable=True))
        batch_op.create_index("ix_sms_requests_created_at", ["created_at"], unique=False)
    bind = op.get_bind()
    binary = bind.execute(
        sa.text("SELECT id, message_text FROM sms_requests WHERE data_coding = 'binary'")
    ).all()
    for request_id, text in binary:
        bind.execute(
            sa.text("UPDATE sms_requests SET payload_hex = :h WHERE id = :i"),
            {"h": _hex(text), "i": request_id},
        )
    op.execute(audit_view.create_sql(bind.dialect.name))


def downgrade() -> None:
    op.execute(audit_view.DROP_SQL)
    with op.batch_alter_table("sms_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_sms_requests_created_at")
        batch_op.drop_column("payload_hex")
