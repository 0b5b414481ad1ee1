"""Pushed receipts at the edge and in the core: exactly once under concurrency, only forward,
matched on sms_uid and ICCID, size-capped, and never an HTTP 500."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bot.store.models import SmsRequest
from tests.support.bot import Bot, values
from tests.test_socket_mode import _serve_once

SENDER = "U0SENDER"
MANX = "89440000000000000010"
OTHER = "89330000000000000062"


def receipt(
    status: str = "delivered", iccid: str = MANX, passphrase: str = "receipt-pass"
) -> bytes:
    return (
        f'<post_delivery_receipt version="1" api_did="0000061029"><passphrase>{passphrase}'
        f"</passphrase><iccid>{iccid}</iccid><msisdn>447890000000</msisdn>"
        f"<sms_uid>TRACE42</sms_uid><status>{status}</status></post_delivery_receipt>"
    ).encode()


def sent(bot: Bot) -> None:
    bot.grant(SENDER)
    bot.submit(bot.open_modal(), values(uid="TRACE42"))
    bot.slack.wait_for("chat.update")


def push(bot: Bot, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(f"{bot.base}/portal/receipts", content=body, headers=headers, timeout=30)


def raw_status(bot: Bot, headers: bytes) -> bytes:
    """The status code for a request httpx would refuse to send (a malformed header)."""
    port = int(bot.base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"POST /portal/receipts HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\nxx")
        return conn.recv(64).split(b" ")[1]


def state(bot: Bot) -> str | None:
    with bot.runtime.db.session() as session:
        return session.query(SmsRequest).one().delivery_status


def notices(bot: Bot) -> int:
    posted = bot.slack.calls("chat.postMessage")
    return sum("Delivered" in c.args.get("text", "") for c in posted)


def test_a_hundred_identical_receipts_at_once_land_once(bot: Bot) -> None:
    sent(bot)
    with ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(lambda _: push(bot, receipt()).status_code, range(100)))
    assert codes == [200] * 100
    bot.slack.wait_for("chat.postMessage", lambda c: "Delivered" in c.args.get("text", ""))
    assert bot.events().count("delivered") == 1
    assert notices(bot) == 1


def test_delivery_state_only_moves_forward(bot: Bot) -> None:
    sent(bot)
    assert push(bot, receipt("pending")).status_code == 200
    assert push(bot, receipt("delivered")).status_code == 200
    assert push(bot, receipt("pending")).status_code == 200  # late, out of order
    assert state(bot) == "delivered"
    assert bot.events().count("delivery_status") == 1 and bot.events().count("delivered") == 1


def test_a_receipt_for_another_sim_changes_nothing_and_is_audited(bot: Bot) -> None:
    sent(bot)
    assert push(bot, receipt(iccid=OTHER)).status_code == 200
    assert state(bot) is None
    assert bot.events()[-1] == "receipt_mismatch" and "delivered" not in bot.events()


def test_odd_receipts_never_give_a_500(bot: Bot) -> None:
    sent(bot)
    long_status = push(bot, receipt(status="x" * 60))
    assert long_status.status_code == 200 and state(bot) == "x" * 40
    assert push(bot, receipt(passphrase="pässwörd")).status_code == 403
    assert push(bot, b"<a>" + b"x" * 70_000 + b"</a>").status_code == 413
    assert raw_status(bot, b"Content-Length: abc\r\n") == b"400"
    assert push(bot, b"\xff\xfe not xml").status_code == 400


def test_the_live_portal_needs_a_receipt_passphrase(tmp_path: Path) -> None:
    live = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "s",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "M2M_API_ID": "a",
        "M2M_USERNAME": "u",
        "M2M_PASSWORD": "p",
    }
    done = _serve_once(live, tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("smsbot: SMSBOT_RECEIPT_PASSPHRASE: required with the live portal")
    )


@pytest.fixture
def no_receipts_bot(db_url: str):  # type: ignore[no-untyped-def]
    from tests.support.bot import running_bot

    with running_bot(db_url, SMSBOT_RECEIPTS="off") as bot:
        yield bot


def test_receipts_can_be_turned_off(no_receipts_bot: Bot) -> None:
    assert push(no_receipts_bot, receipt()).status_code == 404
