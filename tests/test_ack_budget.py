"""A send form is acked inside Slack's 3 s whatever holds the database or the server's threads:
its database work is bounded by what is left of a 2 s budget counted from when the request
arrived (queueing for a server thread included), and past it the form answers "busy, try
again" with nothing recorded or sent — never a timeout Slack shows for a form that is then sent.
On both databases: SQLite's write lock, PostgreSQL's audit head."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
from sqlalchemy import text

from bot.slack.received_at import HEADER
from bot.store.db import Database
from tests.support.bot import Bot, values
from tests.support.slack_api import Call
from tests.support.waiting import wait_until
from tests.test_sqlite_locking import hold_write_lock

SLACK_DEADLINE = 3.0


@contextmanager
def writer_blocked(bot: Bot, backend: str) -> Iterator[None]:
    """Another process's transaction holds what every recording needs until the block ends."""
    if backend == "sqlite":
        holder = hold_write_lock(bot)
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    other = Database(bot.runtime.db.url.render_as_string(hide_password=False))
    try:
        with other.engine.connect() as conn:
            conn.execute(text("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE"))
            try:
                yield
            finally:
                conn.rollback()
    finally:
        other.dispose()


def timed(call: Callable[[], httpx.Response]) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    answer = call()
    return time.monotonic() - started, answer


def submit_timed(bot: Bot, modal: Call) -> tuple[float, httpx.Response]:
    return timed(lambda: bot.submit(modal, values()))


def is_busy(answer: httpx.Response) -> bool:
    errors = answer.json().get("errors", {}) if answer.content else {}
    return "busy" in errors.get("iccid", "") and "nothing was sent" in errors.get("iccid", "")


def test_a_blocked_database_answers_busy_in_time_and_records_nothing(
    bot: Bot, backend: str
) -> None:
    bot.grant("U0SENDER")
    modal = bot.open_modal()
    with writer_blocked(bot, backend):
        took, answer = timed(lambda: bot.submit(modal, values()))
        assert took < SLACK_DEADLINE, f"the ack took {took:.1f} s"
        assert is_busy(answer), answer.text
    assert bot.portal_sends == [] and bot.events() == []
    # Once the other writer is done, the same form goes through, once.
    assert bot.submit(modal, values()).text == ""
    bot.slack.wait_for("chat.postMessage", lambda c: "Accepted" in c.args.get("text", ""))
    assert len(bot.portal_sends) == 1


def test_a_form_queued_for_a_server_thread_is_answered_in_time(bot: Bot, backend: str) -> None:
    """Forms occupy every server thread (each waits out its budget on the blocked database);
    one more queues behind them. Counted from its own start it would wait a whole budget again
    and be acked past 3 s; counted from its arrival it is answered in time."""
    bot.grant("U0SENDER")
    dispatcher = bot.server._server.task_dispatcher
    threads = len(dispatcher.threads)
    modals = [bot.open_modal() for _ in range(threads + 1)]
    with writer_blocked(bot, backend), ThreadPoolExecutor(threads + 1) as pool:
        first = [pool.submit(submit_timed, bot, m) for m in modals[:-1]]
        wait_until(lambda: dispatcher.active_count >= threads, what="every server thread busy")
        last = pool.submit(submit_timed, bot, modals[-1])
        results = [f.result() for f in [*first, last]]
    for took, answer in results:
        assert took < SLACK_DEADLINE, f"an ack took {took:.1f} s"
        assert is_busy(answer), answer.text
    assert bot.portal_sends == [] and bot.events() == []


def test_a_client_cannot_choose_the_arrival_time(bot: Bot) -> None:
    """The edge always sets the header itself: a request claiming to be an hour old is not
    refused as late (nor could one claiming to be new extend the budget)."""
    bot.grant("U0SENDER")
    modal = bot.open_modal()
    stale = {HEADER: str(time.monotonic() - 3600)}
    assert bot.submit(modal, values(), extra_headers=stale).text == ""
    bot.slack.wait_for("chat.postMessage", lambda c: "Accepted" in c.args.get("text", ""))


def test_bounded_sessions_do_not_pile_up_a_factory_per_budget(database: Database) -> None:
    """Forms pass what is left of their budget, a different float each time: the bounds are
    floored to 100 ms steps, so a long-running bot keeps at most 20 of them."""
    for i in range(1000):
        with database.session(wait_seconds=0.2 + i * 0.0018):
            pass
    assert len(database._bounded) <= 20
