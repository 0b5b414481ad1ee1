"""On PostgreSQL the chain is appended by one server-side statement (`smsbot_audit_append`): its
rows must hash exactly as Python's `row_hash` does — for any text a user, the portal or a device
could put in a row — or `verify` would report tampering that never happened."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.store import audit
from bot.store.db import Database

#: Any text: quotes, backslashes, every control character, U+2028, astral characters, NUL and
#: lone surrogates (which the audit log stores escaped).
ANY_TEXT = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=40)


def test_postgresql_appends_in_the_server_and_sqlite_in_python(
    database: Database, backend: str
) -> None:
    with database.session() as session:
        audit.append(session, "sent", "U1", request_id=7, iccid="8944", details={"a": "b"})
        uses_server = audit._appends_in_server(session.connection())
    assert uses_server is (backend == "postgresql")
    with database.session() as session:
        assert audit.verify(session).ok


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    entries=st.lists(
        st.tuples(
            ANY_TEXT,
            st.one_of(st.none(), ANY_TEXT),
            st.one_of(st.none(), st.integers(0, 2**31 - 1)),
            st.dictionaries(ANY_TEXT, st.one_of(ANY_TEXT, st.integers(), st.none()), max_size=3),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_rows_appended_by_either_path_hash_as_python_does(
    database: Database, entries: list[tuple[str, str | None, int | None, dict[str, Any]]]
) -> None:
    with database.session() as session:
        written = audit.append_many(
            session,
            [
                audit.Entry("requested", actor, request_id, iccid, details)
                for actor, iccid, request_id, details in entries
            ],
        )
    with database.read() as session:
        stored = audit.query(session, limit=None, newest_first=True)[: len(written)][::-1]
        # What the caller was told is what was stored, and each stored row hashes as in Python.
        assert [audit.as_dict(r) for r in stored] == [audit.as_dict(w) for w in written]
        for row in stored:
            assert audit.row_hash(audit.as_dict(row)) == row.hash
    with database.snapshot() as session:
        assert audit.verify(session).ok
