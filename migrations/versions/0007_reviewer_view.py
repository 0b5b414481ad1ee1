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

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One row per request. Aggregates are correlated subqueries (the same SQL on both databases
# except the string aggregate), so the view never multiplies rows.
VIEW = """
CREATE VIEW sms_audit_view AS
SELECT
    r.id AS request_id,
    r.created_at AS created_at,
    r.requester AS requester,
    r.requester_groups AS requester_groups,
    r.channel_id AS channel_id,
    r.source AS origin_front_end,
    r.iccid AS iccid,
    s.label AS sim_label,
    r.sim_type AS sim_type,
    s.group_name AS sim_group,
    r.message_text AS message_text,
    r.payload_hex AS message_hex,
    r.data_coding AS data_coding,
    r.origin AS origin,
    r.sms_uid AS sms_uid,
    r.request_hash AS request_hash,
    r.approvals_needed AS approvals_needed,
    ({approvers}) AS approvers,
    (SELECT MAX(a.created_at) FROM approvals a WHERE a.request_id = r.id) AS approved_at,
    r.decided_by AS decided_by,
    r.decided_at AS decided_at,
    r.decision_reason AS decision_reason,
    r.state AS state,
    r.outcome_category AS outcome_category,
    r.outcome_reason AS outcome_reason,
    r.sent_at AS sent_at,
    r.completed_at AS completed_at,
    r.portal_http_status AS portal_http_status,
    r.delivery_status AS delivery_status,
    r.delivered_at AS delivered_at,
    r.retry_of AS retry_of,
    r.sandbox AS sandbox,
    (SELECT MIN(l.seq) FROM audit_log l WHERE l.request_id = r.id) AS first_audit_seq,
    (SELECT MAX(l.seq) FROM audit_log l WHERE l.request_id = r.id) AS last_audit_seq,
    (SELECT COUNT(*) FROM audit_log l WHERE l.request_id = r.id) AS audit_events
FROM sms_requests r
LEFT JOIN sims s ON s.iccid = r.iccid
"""
APPROVERS = {
    "postgresql": "SELECT string_agg(a.approver, ',' ORDER BY a.id) FROM approvals a "
    "WHERE a.request_id = r.id",
    "sqlite": "SELECT group_concat(approver, ',') FROM (SELECT a.approver FROM approvals a "
    "WHERE a.request_id = r.id ORDER BY a.id)",
}


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
    dialect = bind.dialect.name
    op.execute(VIEW.format(approvers=APPROVERS.get(dialect, APPROVERS["postgresql"])))


def downgrade() -> None:
    op.execute("DROP VIEW sms_audit_view")
    with op.batch_alter_table("sms_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_sms_requests_created_at")
        batch_op.drop_column("payload_hex")
