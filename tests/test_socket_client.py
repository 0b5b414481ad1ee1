"""The Socket Mode client always stops: `close()` ends within its deadline right after a dropped
connection or a refresh, however the reconnect and the close interleave (slack_sdk's client hung
there about once in twelve stops, forever). Real WebSocket server, real Web API stand-in."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from slack_sdk import WebClient

from bot.slack.socket_client import CLOSE_SECONDS, SocketClient
from tests.support.slack_api import SlackStandIn
from tests.support.socket_mode import SocketModeServer

CYCLES = 24


@pytest.fixture
def slack() -> Iterator[tuple[SocketModeServer, SlackStandIn]]:
    socket = SocketModeServer().start()
    api = SlackStandIn(socket=socket).start()
    try:
        yield socket, api
    finally:
        api.stop()
        socket.stop()


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_close_ends_the_session_thread_after_every_kind_of_reconnect(
    slack: tuple[SocketModeServer, SlackStandIn],
) -> None:
    socket, api = slack
    opened_at: list[int] = []
    closed_at: list[int] = []
    for cycle in range(CYCLES):
        client = SocketClient(
            app_token="xapp-1-test", web_client=WebClient(base_url=api.url), ping_interval=5
        )
        before = socket.connects
        opened_at.append(before)
        client.connect()
        socket.wait_connected(before + 1)
        # Alternate the two ways Slack ends a connection, then close while the client is (or has
        # just finished) reconnecting: the moment the runner thread can start a closed session.
        if cycle % 2:
            socket.request_refresh()
        else:
            socket.drop()
        if cycle % 3 == 0:
            socket.wait_connected(before + 2)
        started = time.monotonic()
        client.close()
        took = time.monotonic() - started
        runner = client.current_session_runner.thread
        assert runner is None or not runner.is_alive(), f"cycle {cycle}: session thread alive"
        assert took < CLOSE_SECONDS, f"cycle {cycle}: close took {took:.2f} s"
        # Nothing of this client runs or reconnects after the close.
        assert client._running is None, f"cycle {cycle}: a session still running"
        session = client.current_session
        assert session is None or session.sock is None, f"cycle {cycle}: a socket left open"
        closed_at.append(socket.connects)
    # A client that reconnected after its close would show as a connection before the next one.
    assert opened_at[1:] == closed_at[:-1], (opened_at, closed_at)


def test_a_session_replaced_before_it_opened_closes_itself(
    slack: tuple[SocketModeServer, SlackStandIn],
) -> None:
    socket, api = slack
    client = SocketClient(
        app_token="xapp-1-test", web_client=WebClient(base_url=api.url), ping_interval=5
    )
    try:
        client.connect()
        socket.wait_connected(1)
        # Two connects in a row: the first new session is replaced before the runner starts it.
        client.connect()
        client.connect()
        _wait_for(client.is_connected, "the newest session never connected")
        _wait_for(lambda: socket.open_connections() == 1, "a replaced session stayed open")
        assert client._running is client.current_session  # the one running is the current one
    finally:
        client.close()
