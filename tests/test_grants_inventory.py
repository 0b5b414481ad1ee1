"""The authorization table (default deny) and the SIM inventory import."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.authz import AuthzInputError, Principal, parse_expiry, parse_scope, subject_kind
from bot.store import audit
from bot.store.db import Database
from bot.store.grants import check_access, create_grant, list_grants, revoke_grant, who_can_grant
from bot.store.inventory import get_sim, import_csv, list_sims
from bot.store.models import Grant, Sim

MANX = "89440000000000000010"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _grant(database: Database, subject: str, scope: str, role: str = "sender", **kw: object) -> int:
    with database.session() as session:
        return create_grant(
            session, subject=subject, scope=scope, role=role, actor="UADMIN", **kw
        ).id  # type: ignore[arg-type]


def _can(
    database: Database,
    principal: Principal,
    iccid: str = MANX,
    group: str | None = None,
    role: str = "sender",
    admins: frozenset[str] = frozenset(),
):  # type: ignore[no-untyped-def]
    with database.session() as session:
        return check_access(session, principal, role, iccid, group, admins)  # type: ignore[arg-type]


# ---- pure parsing -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("subject", "kind"),
    [
        ("U012AB", "user"),
        ("W012AB", "user"),
        ("S0GROUP", "usergroup"),
        ("C0CHAN", "channel"),
        ("G0PRIV", "channel"),
    ],
)
def test_subject_kinds(subject: str, kind: str) -> None:
    assert subject_kind(subject) == kind


@pytest.mark.parametrize("subject", ["bob", "@bob", "X123", "U", "u0123", "U01 2"])
def test_unknown_subjects_are_refused(subject: str) -> None:
    with pytest.raises(AuthzInputError, match="not a Slack"):
        subject_kind(subject)


def test_scopes() -> None:
    assert parse_scope("*") == "*"
    assert parse_scope("894412*") == "894412*"
    assert parse_scope("group:fleet-a") == "group:fleet-a"
    assert parse_scope("8944 0000 0000 0000 0010") == MANX
    for bad in ("", "abc", "89*44", "group:", "1234"):
        with pytest.raises(AuthzInputError):
            parse_scope(bad)


def test_expiry_forms() -> None:
    assert parse_expiry("30d", NOW) == NOW + timedelta(days=30)
    assert parse_expiry("12h", NOW) == NOW + timedelta(hours=12)
    assert parse_expiry("90m", NOW) == NOW + timedelta(minutes=90)
    assert parse_expiry(None, NOW) is None
    assert parse_expiry("2026-12-01", NOW) == datetime(2026, 12, 1, tzinfo=UTC)
    for bad in ("soon", "0d", "2020-01-01"):
        with pytest.raises(AuthzInputError):
            parse_expiry(bad, NOW)


# ---- the table ----------------------------------------------------------------------------------
def test_default_deny_names_the_role_and_who_can_grant(database: Database) -> None:
    decision = _can(database, Principal("U01"), admins=frozenset({"UBOSS"}))
    assert not decision.allowed
    assert "no `sender` grant" in decision.reason and "<@UBOSS>" in decision.reason


def test_user_group_and_channel_grants(database: Database) -> None:
    _grant(database, "S0OPS", "8944*")
    _grant(database, "C0NOC", MANX)
    assert _can(database, Principal("U01", ("S0OPS",))).allowed
    assert _can(database, Principal("U02", (), "C0NOC")).allowed
    assert not _can(database, Principal("U02", (), "C0OTHER")).allowed
    assert not _can(database, Principal("U03", ("S0OPS",)), iccid="89310000000000000023").allowed


def test_group_scope_matches_inventory_group(database: Database) -> None:
    _grant(database, "U01", "group:fleet")
    assert _can(database, Principal("U01"), group="fleet").allowed
    assert not _can(database, Principal("U01"), group="other").allowed
    assert not _can(database, Principal("U01"), group=None).allowed


def test_role_must_match_but_admin_implies_all(database: Database) -> None:
    _grant(database, "U01", "*", role="auditor")
    assert not _can(database, Principal("U01")).allowed
    _grant(database, "U02", "*", role="admin")
    assert _can(database, Principal("U02")).allowed
    assert _can(database, Principal("U02"), role="approver").allowed


def test_env_admins_exist_from_the_first_start(database: Database) -> None:
    decision = _can(database, Principal("UBOSS"), admins=frozenset({"UBOSS"}))
    assert decision.allowed and decision.basis == "admin via SMSBOT_ADMINS"


def test_revoked_grant_stops_working_but_stays(database: Database) -> None:
    gid = _grant(database, "U01", "*")
    with database.session() as session:
        assert revoke_grant(session, gid, "UADMIN") is not None
        assert revoke_grant(session, gid, "UADMIN") is None
    assert not _can(database, Principal("U01")).allowed
    with database.session() as session:
        assert session.get(Grant, gid) is not None
        assert list_grants(session) == []
        assert [g.id for g in list_grants(session, include_inactive=True)] == [gid]


def test_expired_grant_does_not_match(database: Database) -> None:
    gid = _grant(database, "U01", "*", expires_at=datetime.now(UTC) + timedelta(hours=1))
    assert _can(database, Principal("U01")).allowed
    with database.session() as session:
        session.get(Grant, gid).expires_at = datetime.now(UTC) - timedelta(seconds=1)  # type: ignore[union-attr]
    assert not _can(database, Principal("U01")).allowed


def test_grant_without_approval_wins_over_one_with(database: Database) -> None:
    _grant(database, "C0NOC", "*", approval_required=True)
    assert _can(database, Principal("U01", (), "C0NOC")).approval_required
    _grant(database, "U01", MANX)
    decision = _can(database, Principal("U01", (), "C0NOC"))
    assert decision.allowed and not decision.approval_required


def test_grant_changes_are_audited(database: Database) -> None:
    gid = _grant(database, "U01", "*")
    with database.session() as session:
        revoke_grant(session, gid, "UADMIN")
        events = [(r.event, r.actor) for r in audit.query(session)]
    assert events == [("grant_created", "UADMIN"), ("grant_revoked", "UADMIN")]


def test_who_can_grant_lists_env_and_table_admins(database: Database) -> None:
    _grant(database, "UTABLE", "*", role="admin")
    with database.session() as session:
        assert who_can_grant(session, frozenset({"UENV"})) == ["UENV", "UTABLE"]


# ---- inventory ----------------------------------------------------------------------------------
GOOD_CSV = """iccid,label,sim_type,group,active
8944 0000 0000 0000 0010,pump 7,Manx Telecom,fleet,true
89310000000000000023,meter 3,Multinet KPN C,,yes
89310000000000000031,gate,Multinet KPN O,fleet,false
"""


def test_import_and_update(database: Database) -> None:
    with database.session() as session:
        result = import_csv(session, io.StringIO(GOOD_CSV), "cli:test")
    assert (result.imported, result.updated, result.errors) == (3, 0, [])
    with database.session() as session:
        sim = get_sim(session, MANX)
        assert sim is not None and sim.label == "pump 7" and sim.group_name == "fleet"
        assert get_sim(session, "89310000000000000031").active is False  # type: ignore[union-attr]
        result = import_csv(session, io.StringIO(GOOD_CSV.replace("pump 7", "pump 8")), "cli:t")
    assert (result.imported, result.updated) == (0, 3)
    with database.session() as session:
        assert get_sim(session, MANX).label == "pump 8"  # type: ignore[union-attr]
        assert len(list_sims(session)) == 3


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(database: Database) -> None:
    bad = (
        GOOD_CSV + "8944000000000000001X,bad,,,\n89440000000000000010,dup,,,\n"
        "89330000000000000062,x,,,maybe\n"
    )
    with database.session() as session:
        result = import_csv(session, io.StringIO(bad), "cli:test")
    assert [e.split(":")[0] for e in result.errors] == ["line 5", "line 6", "line 7"]
    assert "digits only" in result.errors[0]
    assert "already given on line 2" in result.errors[1]
    with database.session() as session:
        assert session.execute(select(func.count()).select_from(Sim)).scalar() == 0


def test_header_must_name_known_columns(database: Database) -> None:
    with database.session() as session:
        result = import_csv(session, io.StringIO("msisdn,label\n1,2\n"), "cli:test")
    assert result.errors and result.errors[0].startswith("line 1:")


@pytest.mark.parametrize("scope", ["８９４４*", "٨٩٤٤*", "89440000000000000０10", "²*"])
def test_scopes_take_ascii_digits_only(scope: str) -> None:
    from bot.authz import AuthzInputError, parse_scope

    with pytest.raises(AuthzInputError, match="digits 0-9"):
        parse_scope(scope)
    assert parse_scope("8944*") == "8944*"
