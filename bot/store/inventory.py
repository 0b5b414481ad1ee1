"""The SIM inventory: lookups and all-or-nothing CSV import."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from typing import TextIO

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from bot.sms.iccid import check_iccid
from bot.sms.message import SimInfo
from bot.store import audit
from bot.store.models import Sim, SimGroup

CSV_COLUMNS = ("iccid", "label", "sim_type", "group", "active", "msisdn")
_TRUE = {"", "1", "true", "yes", "y", "active"}
_FALSE = {"0", "false", "no", "n", "inactive"}


def get_sim(session: Session, iccid: str) -> SimInfo | None:
    """The inventory's entry; None for an ICCID that is not ASCII digits of a possible length
    (nothing else can be in the table, and a NUL would make PostgreSQL refuse the query)."""
    if not (iccid.isascii() and iccid.isdigit() and len(iccid) <= 22):
        return None
    sim = session.get(Sim, iccid)
    if sim is None:
        return None
    return SimInfo(sim.iccid, sim.label, sim.sim_type, sim.group_name, sim.active)


def get_sim_and_group(session: Session, iccid: str) -> tuple[SimInfo | None, SimGroup | None]:
    """The SIM and its group's approval policy in one round trip (the send path needs both)."""
    if not (iccid.isascii() and iccid.isdigit() and len(iccid) <= 22):
        return None, None
    row = session.execute(_SIM_AND_GROUP, {"iccid": iccid}).one_or_none()
    if row is None:
        return None, None
    sim, group = row
    return SimInfo(sim.iccid, sim.label, sim.sim_type, sim.group_name, sim.active), group


_SIM_AND_GROUP = (
    select(Sim, SimGroup)
    .outerjoin(SimGroup, Sim.group_name == SimGroup.name)
    .where(Sim.iccid == bindparam("iccid"))
)


def get_group(session: Session, name: str | None) -> SimGroup | None:
    return session.get(SimGroup, name) if name else None


def list_groups(session: Session) -> list[SimGroup]:
    return list(session.execute(select(SimGroup).order_by(SimGroup.name)).scalars())


def set_group_policy(
    session: Session,
    name: str,
    *,
    actor: str,
    approval_required: bool | None = None,
    approval_channel: str | None = None,
    approvals_needed: int | None = None,
) -> SimGroup:
    """Create or change a group's approval policy (audited like a grant change)."""
    group = session.get(SimGroup, name)
    if group is None:
        group = SimGroup(name=name, approval_required=False, approvals_needed=1)
        session.add(group)
    if approval_required is not None:
        group.approval_required = approval_required
    if approval_channel is not None:
        group.approval_channel = approval_channel
    if approvals_needed is not None:
        group.approvals_needed = approvals_needed
    session.flush()
    audit.append(
        session,
        "group_policy_set",
        actor,
        details={
            "group": group.name,
            "approval_required": group.approval_required,
            "approval_channel": group.approval_channel,
            "approvals_needed": group.approvals_needed,
        },
    )
    return group


def list_sims(session: Session) -> list[Sim]:
    return list(session.execute(select(Sim).order_by(Sim.iccid)).scalars())


@dataclass
class ImportResult:
    imported: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)


def _parse_rows(reader: csv.DictReader[str]) -> tuple[list[dict[str, object]], list[str]]:
    rows: list[dict[str, object]] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        if None in record:
            errors.append(f"line {line}: more fields than the header has")
            continue
        iccid_raw = (record.get("iccid") or "").strip()
        iccid, problems = check_iccid(iccid_raw)
        hard = [p for p in problems if p.is_error]
        if hard:
            errors.append(f"line {line}: iccid: {hard[0].message}")
            continue
        if iccid in seen:
            errors.append(f"line {line}: iccid {iccid} already given on line {seen[iccid]}")
            continue
        seen[iccid] = line
        active_text = (record.get("active") or "").strip().lower()
        if active_text not in _TRUE | _FALSE:
            errors.append(f"line {line}: active must be true/false, not `{active_text}`")
            continue
        group = (record.get("group") or "").strip() or None
        if group is not None and (
            len(group) > 64
            or not group.replace("-", "").replace("_", "").replace(".", "").isalnum()
        ):
            errors.append(f"line {line}: group must be letters, digits, _ . - (at most 64)")
            continue
        label = (record.get("label") or "").strip() or None
        if label is not None and len(label) > 200:
            errors.append(f"line {line}: label is longer than 200 characters")
            continue
        msisdn = (record.get("msisdn") or "").strip().replace(" ", "").removeprefix("+") or None
        if msisdn is not None and not (
            msisdn.isascii() and msisdn.isdigit() and 6 <= len(msisdn) <= 15
        ):
            errors.append(f"line {line}: msisdn must be 6 to 15 digits (an optional + first)")
            continue
        sim_type = (record.get("sim_type") or "").strip() or None
        if sim_type is not None and len(sim_type) > 64:
            errors.append(f"line {line}: sim_type is longer than 64 characters")
            continue
        rows.append(
            {
                "iccid": iccid,
                "label": label,
                "sim_type": sim_type,
                "group_name": group,
                "active": active_text not in _FALSE,
                "msisdn": msisdn,
            }
        )
    return rows, errors


def import_csv(session: Session, source: TextIO, actor: str) -> ImportResult:
    """Import or update SIMs from CSV; any bad row imports nothing (the caller rolls back)."""
    reader = csv.DictReader(source)
    header = [h.strip() for h in reader.fieldnames or []]
    result = ImportResult()
    if "iccid" not in header:
        result.errors.append(f"line 1: the header must name the columns {', '.join(CSV_COLUMNS)}")
        return result
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        result.errors.append(f"line 1: unknown column(s) {', '.join(unknown)}")
        return result
    reader.fieldnames = header
    rows, result.errors = _parse_rows(reader)
    if result.errors:
        return result
    for row in rows:
        if "msisdn" not in header:
            row.pop("msisdn")  # an older file without the column keeps the numbers known
        group = row["group_name"]
        if isinstance(group, str) and session.get(SimGroup, group) is None:
            session.add(SimGroup(name=group, approval_required=False, approvals_needed=1))
            session.flush()
        sim = session.get(Sim, row["iccid"])
        if sim is None:
            session.add(Sim(created_at=audit.utc_now(), **row))
            result.imported += 1
        else:
            for key, value in row.items():
                setattr(sim, key, value)
            result.updated += 1
    session.flush()
    audit.append(
        session,
        "sims_imported",
        actor,
        details={"imported": result.imported, "updated": result.updated},
    )
    return result


def groups_with_sims(session: Session) -> list[tuple[str, int]]:
    """Every SIM group with its number of active SIMs (the fleet-send form offers them)."""
    rows = session.execute(
        select(Sim.group_name, func.count())
        .where(Sim.group_name.is_not(None), Sim.active.is_(True))
        .group_by(Sim.group_name)
        .order_by(Sim.group_name)
    ).all()
    return [(str(name), int(count)) for name, count in rows]
