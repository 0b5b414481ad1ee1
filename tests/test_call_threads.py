"""Portal calls run in reused daemon threads (bot.portal.call_threads)."""

from __future__ import annotations

import threading

from bot.portal.call_threads import CallThreads
from tests.support.waiting import wait_until


def _named(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]


def test_calls_one_after_another_reuse_one_daemon_thread() -> None:
    threads = CallThreads("test-reuse")
    ran_in: list[int] = []
    for _ in range(20):
        done = threading.Event()

        def job(done: threading.Event = done) -> None:
            ran_in.append(threading.get_ident())
            done.set()

        threads.run(job)
        assert done.wait(10)
        # The thread counts itself idle just after the job: wait for that, not for time.
        wait_until(lambda: threads._idle == 1, 10, "the thread idle again")
    assert len(set(ran_in)) == 1
    assert all(t.daemon for t in _named("test-reuse"))


def test_concurrent_calls_each_get_a_thread_and_none_waits_for_another() -> None:
    threads = CallThreads("test-concurrent")
    release = threading.Event()
    started: list[int] = []
    lock = threading.Lock()

    def job() -> None:
        with lock:
            started.append(threading.get_ident())
        release.wait(10)

    for _ in range(5):
        threads.run(job)
    # All five run at once: a blocked call (a trickling portal) never delays the next one.
    wait_until(lambda: len(started) == 5, 10, "five calls running at once")
    assert len(set(started)) == 5
    release.set()
    wait_until(lambda: threads._idle == 5, 10, "five idle threads")


def test_idle_threads_end() -> None:
    threads = CallThreads("test-idle", idle_seconds=0.05)
    done = threading.Event()
    threads.run(done.set)
    assert done.wait(10)
    wait_until(lambda: not _named("test-idle"), 10, "the idle thread to end")
    assert threads._idle == 0
    # And a call after that starts a new one.
    again = threading.Event()
    threads.run(again.set)
    assert again.wait(10)
