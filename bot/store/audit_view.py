"""The reviewer's SQL view `sms_audit_view` (docs/audit.md), as the migrations create it.

SQLite cannot rebuild a table a view refers to (Alembic's batch mode renames a copy into place),
so a migration that alters `sms_requests` or `sims` drops the view first and creates it again
with `create_sql`. A change to the view is a new version here, never an edit of an old one.
"""

from __future__ import annotations

# One row per request. Aggregates are correlated subqueries (the same SQL on both databases
# except the string aggregate), so the view never multiplies rows.
VIEW_V1 = """
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
_APPROVERS = {
    "postgresql": "SELECT string_agg(a.approver, ',' ORDER BY a.id) FROM approvals a "
    "WHERE a.request_id = r.id",
    "sqlite": "SELECT group_concat(approver, ',') FROM (SELECT a.approver FROM approvals a "
    "WHERE a.request_id = r.id ORDER BY a.id)",
}


#: Version 2 (migration 0010): the fleet send a request belongs to.
VIEW_V2 = VIEW_V1.replace(
    "    r.retry_of AS retry_of,\n", "    r.retry_of AS retry_of,\n    r.batch_id AS batch_id,\n"
)
assert VIEW_V2 != VIEW_V1
_VERSIONS = {1: VIEW_V1, 2: VIEW_V2}


def create_sql(dialect: str, version: int = 1) -> str:
    """CREATE VIEW for this database (the string aggregate differs), as of view `version`."""
    sql = _VERSIONS[version]
    return sql.format(approvers=_APPROVERS.get(dialect, _APPROVERS["postgresql"]))


DROP_SQL = "DROP VIEW IF EXISTS sms_audit_view"
