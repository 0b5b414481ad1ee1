"""Nothing escapes the audit log, whatever the input: over-long values, NUL and lone surrogates are
recorded (cut with their length and digest, escaped visibly) on both databases; and what is read
back is safe on a terminal and in a spreadsheet."""

from __future__ import annotations

import csv
import io
import json

from bot.authz import Principal
from bot.service import SendCommand, SendService
from bot.sms.message import Draft
from bot.store import audit
from bot.store.db import Database
from bot.store.grants import command_refusal
from bot.store.safe_text import for_csv_cell, for_terminal

MANX = "89440000000000000010"


def _rows(database: Database) -> list[audit.AuditEvent]:
    with database.session() as session:
        return audit.query(session)


def _send(service: SendService, draft: Draft, **kw: object) -> object:
    cmd = SendCommand(principal=Principal("UADMIN"), draft=draft, source="cli", **kw)  # type: ignore[arg-type]
    return service.submit(cmd)


def test_nul_and_lone_surrogates_are_recorded_visibly(
    service: SendService, database: Database
) -> None:
    for draft in (
        Draft(MANX[:10] + "\x00" + MANX[10:], "hi"),
        Draft(MANX, "half \ud83d a pair"),
        Draft(MANX, "hi", origin="44\x00", sms_uid="\udfff"),
    ):
        assert _send(service, draft).status == "invalid"  # type: ignore[attr-defined]
    rows = _rows(database)
    assert [r.event for r in rows] == ["invalid"] * 3
    assert "\\x00" in rows[0].details and "\\ud83d" in rows[1].details
    with database.session() as session:
        assert audit.verify(session).ok


def test_huge_refused_input_is_capped_with_its_length_and_digest(
    service: SendService, database: Database
) -> None:
    text = "".join(chr(0x4E00 + i) for i in range(3000))  # 3,000 distinct non-GSM characters
    assert _send(service, Draft(MANX, text)).status == "invalid"  # type: ignore[attr-defined]
    (row,) = _rows(database)
    assert len(row.details.encode()) < 20_000, len(row.details)
    details = json.loads(row.details)
    assert "3000 chars, sha256" in details["input"]["message_text"]
    assert details["input"]["message_length"] == 3000


def test_over_long_principal_values_are_refused_and_audited(
    service: SendService, database: Database
) -> None:
    long_user = Principal("U" + "X" * 100)
    cmd = SendCommand(principal=long_user, draft=Draft(MANX, "hi"), source="cli")
    assert service.submit(cmd).status == "invalid"
    keyed = SendCommand(
        principal=Principal("UADMIN", channel_id="C" * 40),
        draft=Draft(MANX, "hi"),
        source="cli",
        idempotency_key="k" * 300,
    )
    refused = service.submit(keyed)
    assert refused.status == "invalid" and "channel" in refused.reason
    rows = _rows(database)
    assert len(rows) == 2 and len(rows[0].actor) <= 64
    assert "actor_given" in rows[0].details


def test_a_refusal_naming_a_long_or_odd_iccid_is_audited(database: Database) -> None:
    with database.session() as session:
        refusal = command_refusal(
            session,
            Principal("UNOBODY"),
            "/sms status",
            ("sender",),
            frozenset(),
            "1" * 30 + "\x00\x1b[2J",
        )
    assert refusal is not None and "this SIM" in refusal
    (row,) = _rows(database)
    assert row.event == "denied" and len(row.iccid or "") <= 22
    assert "iccid_given" in row.details


def test_audit_list_escapes_terminal_controls(smsbot, database: Database) -> None:  # type: ignore[no-untyped-def]
    with database.session() as session:
        audit.append(session, "denied", "U0X\x1b[2K\r", iccid="\x1b]0;pwned\x07", details={})
    result = smsbot("audit", "list")
    assert result.code == 0
    assert "\x1b" not in result.out and "\r" not in result.out
    assert "\\x1b]0;pwned\\x07" in result.out


def test_csv_export_neutralises_formulas(smsbot, database: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with database.session() as session:
        audit.append(session, "denied", '=HYPERLINK("http://x","y")', details={"k": "v"})
        audit.append(session, "denied", "@SUM(A1)", details={})
    out = tmp_path / "audit.csv"
    assert smsbot("audit", "export", "--format", "csv", "--output", str(out)).code == 0
    actors = [row["actor"] for row in csv.DictReader(io.StringIO(out.read_text()))]
    assert actors == ['\'=HYPERLINK("http://x","y")', "'@SUM(A1)"]
    # The JSON Lines export keeps the exact values (what `verify` hashes).
    jsonl = tmp_path / "audit.jsonl"
    smsbot("audit", "export", "--format", "jsonl", "--output", str(jsonl))
    assert json.loads(jsonl.read_text().splitlines()[0])["actor"].startswith("=HYPERLINK")


def test_safe_text_units() -> None:
    assert for_terminal("a\x1b[31mb\u202ec\n") == "a\\x1b[31mb\\u202ec\\x0a"
    assert for_csv_cell("-1+2") == "'-1+2" and for_csv_cell("ok") == "ok" and for_csv_cell(3) == 3


def test_every_cli_line_escapes_terminal_controls(smsbot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Not only the audit: labels from a CSV, refusals that repeat input, every line printed."""
    good = tmp_path / "sims.csv"
    good.write_text(f"iccid,label,sim_type\n{MANX},pump\x1b[2J\x1b]0;owned\x07,Manx Telecom\n")
    assert smsbot("sims", "import", str(good)).code == 0
    listed = smsbot("sims", "list")
    assert listed.code == 0 and "\x1b" not in listed.out and "pump\\x1b[2J" in listed.out
    bad = tmp_path / "bad.csv"
    bad.write_text("iccid,label\n12\x1b[31m34,x\n")
    refused = smsbot("sims", "import", str(bad))
    assert refused.code == 1 and "\x1b" not in refused.err, repr(refused.err)
    assert "\\x1b" in refused.err
