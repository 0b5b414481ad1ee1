"""What became of a fleet send, SIM by SIM: the rows of its CSV (front ends render them)."""

from __future__ import annotations

import csv
import io
import json

from sqlalchemy import select

from bot.store.db import Database
from bot.store.models import Sim, SmsBatch, SmsRequest
from bot.store.safe_text import for_csv_cell

COLUMNS = (
    "iccid",
    "sim_label",
    "request_id",
    "sms_uid",
    "state",
    "reason",
    "delivery_status",
    "delivered_at",
)


def rows(db: Database, batch_id: int) -> list[dict[str, str]]:
    """One row per SIM named: each member with its outcome and delivery, then each skipped SIM
    (state `skipped`) with why."""
    with db.read() as session:
        batch = session.get(SmsBatch, batch_id)
        if batch is None:
            return []
        members = session.execute(
            select(SmsRequest, Sim.label)
            .join(Sim, Sim.iccid == SmsRequest.iccid, isouter=True)
            .where(SmsRequest.batch_id == batch_id)
            .order_by(SmsRequest.id)
        ).all()
        skipped = json.loads(batch.skipped or "[]")
    out = [
        {
            "iccid": req.iccid,
            "sim_label": label or "",
            "request_id": str(req.id),
            "sms_uid": req.sms_uid,
            "state": req.state,
            "reason": req.outcome_reason or "",
            "delivery_status": req.delivery_status or "",
            "delivered_at": req.delivered_at.isoformat() if req.delivered_at else "",
        }
        for req, label in members
    ]
    out += [
        {
            "iccid": str(s.get("iccid", "")),
            "sim_label": str(s.get("label") or ""),
            "request_id": "",
            "sms_uid": "",
            "state": "skipped",
            "reason": str(s.get("reason", "")),
            "delivery_status": "",
            "delivered_at": "",
        }
        for s in skipped
    ]
    return out


def as_csv(table: list[dict[str, str]]) -> str:
    """The rows as CSV; a cell a spreadsheet would run as a formula is prefixed with `'`."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in table:
        writer.writerow({k: for_csv_cell(v) for k, v in row.items()})
    return buffer.getvalue()
