"""The audit chain's append as one PostgreSQL statement (`smsbot_audit_append`, migration 0011).

Why: an append holds the chain's head until its transaction commits. Done from Python it was four
round trips under the lock (lock the head, insert, move the head, commit), and between each one
the thread had to win the GIL back from every other busy thread: with 20 threads at work the head
was held ~9 ms per transaction and it, not the database, capped the bot (docs/benchmarks.md). The
function locks the head, hashes, inserts and moves the head inside the server, so the lock is held
for one statement and the commit.

The hash must be byte for byte the one `audit.row_hash` computes in Python (`verify` recomputes
it there): the same canonical JSON — keys sorted, no spaces, strings escaped as Python's
`json.dumps(ensure_ascii=False)` escapes them, which is also what PostgreSQL's `to_json(text)`
does (`\\"`, `\\\\`, `\\b \\f \\n \\r \\t`, other characters below U+0020 as `\\u00xx`, the rest
as is) — over UTF-8. So it is only used on a UTF-8 database; a test compares both for any text.
"""

from __future__ import annotations

import os

from sqlalchemy import Engine

#: Version 1 of the function (migration 0011). A change to the row's canonical form must change
#: `audit.row_hash` and this together, in a new migration.
APPEND_FUNCTION_V1 = r"""
CREATE OR REPLACE FUNCTION smsbot_audit_append(entries json, at text)
RETURNS TABLE (out_seq integer, out_prev text, out_hash text)
LANGUAGE plpgsql AS $fn$
DECLARE
    cur_seq integer;
    cur_hash text;
    next_hash text;
    e json;
BEGIN
    SELECT h.seq, h.hash INTO cur_seq, cur_hash FROM audit_head h WHERE h.id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'audit_head row is missing: run smsbot db upgrade';
    END IF;
    FOR e IN SELECT value FROM json_array_elements(entries) LOOP
        cur_seq := cur_seq + 1;
        next_hash := encode(sha256(convert_to(
            '{"actor":' || to_json(e->>'actor')::text
            || ',"details":' || to_json(e->>'details')::text
            || ',"event":' || to_json(e->>'event')::text
            || ',"iccid":' || coalesce(to_json(e->>'iccid')::text, 'null')
            || ',"prev_hash":' || to_json(cur_hash)::text
            || ',"request_id":' || coalesce(e->>'request_id', 'null')
            || ',"seq":' || cur_seq::text
            || ',"ts":' || to_json(at)::text
            || '}', 'UTF8')), 'hex');
        INSERT INTO audit_log (seq, ts, event, actor, request_id, iccid, details, prev_hash, hash)
        VALUES (cur_seq, at, e->>'event', e->>'actor', (e->>'request_id')::integer,
                e->>'iccid', e->>'details', cur_hash, next_hash);
        out_seq := cur_seq;
        out_prev := cur_hash;
        out_hash := next_hash;
        RETURN NEXT;
        cur_hash := next_hash;
    END LOOP;
    UPDATE audit_head SET seq = cur_seq, hash = cur_hash WHERE id = 1;
END
$fn$
"""

DROP_APPEND_FUNCTION = "DROP FUNCTION IF EXISTS smsbot_audit_append(json, text)"

#: True when the function exists and its hashes match Python's (a UTF-8 database).
USABLE = (
    "SELECT current_setting('server_encoding') = 'UTF8' "
    "AND to_regprocedure('smsbot_audit_append(json,text)') IS NOT NULL"
)

#: The append, and a notification to other processes' jobs (bot.jobs.listen), sent at commit,
#: in the same round trip; its payload is the sender's `origin`. The rows come back in chain
#: order.
CALL = (
    "SELECT a.out_seq, a.out_prev, a.out_hash "
    "FROM smsbot_audit_append(CAST(:entries AS json), :at) AS a, "
    "pg_notify('smsbot_audit', :origin) AS n ORDER BY a.out_seq"
)

#: The notification alone, for the append from Python on PostgreSQL.
NOTIFY = "SELECT pg_notify('smsbot_audit', :origin)"


def origin(engine: Engine) -> str:
    """Who notifies: this process and its connection pool (shared by the engine's option
    copies). A process's own commits already wake its jobs at once (`Database.after_audit`);
    its listener skips their notifications, or every commit would run the jobs twice."""
    return f"{os.getpid()}:{id(engine.pool)}"
