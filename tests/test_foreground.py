"""Background work yields to the requests people wait on (bot.foreground), within a bound."""

from __future__ import annotations

import threading
import time

import httpx
from sqlalchemy import select

from bot.foreground import Foreground
from bot.store.models import SmsRequest
from tests.support.bot import MANX, SENDER, Bot, values
from tests.support.waiting import wait_until


def test_idle_yields_at_once() -> None:
    assert Foreground().yield_to(5.0) < 0.5


def test_waits_while_a_request_is_answered_then_goes() -> None:
    fg = Foreground(quiet_seconds=0.05)
    entered, release = threading.Event(), threading.Event()
    went_at: list[float] = []

    def request() -> None:
        with fg.serving():
            entered.set()
            release.wait(10)

    def background() -> None:
        fg.yield_to(30.0)
        went_at.append(time.monotonic())

    answering = threading.Thread(target=request)
    answering.start()
    assert entered.wait(10)
    worker = threading.Thread(target=background, name="background-work")
    worker.start()
    wait_until(lambda: fg.held() == ["background-work"], 10, "the background work held back")
    assert went_at == [], "background work ran while a request was being answered"
    ended = time.monotonic()
    release.set()
    answering.join(10)
    worker.join(10)
    assert not worker.is_alive()
    # It went once the request ended and the quiet period passed, long before its 30 s bound.
    assert ended + 0.05 <= went_at[0] < ended + 5


def test_a_steady_stream_of_requests_delays_background_work_only_up_to_the_bound() -> None:
    fg = Foreground()
    stop = threading.Event()

    def stream() -> None:
        while not stop.is_set():
            with fg.serving():
                stop.wait(0.01)

    feeder = threading.Thread(target=stream)
    feeder.start()
    try:
        waited = fg.yield_to(0.4)
    finally:
        stop.set()
        feeder.join(10)
    assert 0.35 <= waited < 5


def test_busy_counts_the_quiet_period_after_a_request() -> None:
    fg = Foreground(quiet_seconds=60)
    assert not fg.busy()
    with fg.serving():
        assert fg.busy()
    assert fg.busy()  # ended, but not quiet for 60 s yet


# ---- wired into the bot: a real server, signed requests over HTTP, the real sender ------------


def test_only_signed_slack_requests_hold_back_background_work(bot: Bot) -> None:
    fg = bot.runtime.foreground
    before = fg._last
    unsigned = httpx.post(
        bot.client.url,
        content=b"command=%2Fsms&text=&user_id=U0X&channel_id=C0NOC&trigger_id=T.1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert unsigned.status_code == 401
    assert fg._last == before
    bot.open_modal()
    assert fg._last > before


def test_a_recorded_form_is_sent_after_the_requests_being_answered(bot: Bot) -> None:
    bot.grant(SENDER, scope=MANX)
    modal = bot.open_modal()
    sender = bot.runtime.sender
    with bot.runtime.foreground.serving():  # another person's request, still being answered
        response = bot.submit(modal, values(iccid=MANX, text="reset modem"))
        assert response.status_code == 200
        with bot.runtime.db.read() as session:
            rid = session.execute(select(SmsRequest.id)).scalar_one()
        # The dispatch job handed it to the sender, which waits for the answer to finish.
        wait_until(
            lambda: (
                rid in sender._queued
                and any(n.startswith("smsbot-send") for n in bot.runtime.foreground.held())
            ),
            10,
            "the send handed to the sender, which holds it back",
        )
        assert bot.portal_sends == []
        with bot.runtime.db.read() as session:
            assert session.get(SmsRequest, rid).state == "recorded"  # type: ignore[union-attr]
    wait_until(lambda: len(bot.portal_sends) == 1, 10, "sent once the answer is done")
    wait_until(lambda: rid not in sender._queued, 10)
    with bot.runtime.db.read() as session:
        assert session.get(SmsRequest, rid).state == "accepted"  # type: ignore[union-attr]
