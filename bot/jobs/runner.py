"""Running the registered jobs: in `smsbot serve` and `smsbot worker` as a loop on its own thread,
once from `smsbot worker --once` and `smsbot jobs run NAME`.

Each run is claimed first (`claims.claim`): with several replicas exactly one runs a given job at
a time, and the next run is due `every` later, whoever takes it. `wake()` makes the loop run the
wakeable jobs at once (the core calls it when it has just recorded work: a request to send, an
event to render), so the normal path does not wait for the schedule.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from bot.jobs import claims
from bot.jobs.registry import Job, JobContext, Registry
from bot.store.db import Database
from bot.store.errors import describe

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

#: How long a claim holds if its holder dies mid-run (a live holder renews or releases it).
LEASE = timedelta(seconds=120)
#: How often the loop looks for due jobs.
TICK_SECONDS = 1.0


@dataclass(frozen=True)
class RunResult:
    name: str
    ran: bool
    ok: bool
    summary: str


def owner_id() -> str:
    """Who holds a claim: host, process and a random part (a restarted process is a new owner)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class JobRunner:
    def __init__(self, runtime: Runtime | None, db: Database, registry: Registry) -> None:
        """`runtime` is what the jobs get (None only for jobs that need none: tests)."""
        self.runtime = runtime
        self.db = db
        self.registry = registry
        self.owner = owner_id()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rows_ready = False
        self._next_tick = 0.0

    # ---- one run ---------------------------------------------------------------------------
    def run(self, job: Job, *, force: bool = False) -> RunResult:
        """Claim and run `job` once; not run when another replica holds it (or, without
        `force`, when it is not due)."""
        self._ensure_rows()
        if not claims.claim(self.db, job.name, self.owner, LEASE, force=force):
            return RunResult(job.name, False, True, "not run: not due, or running elsewhere")
        ok, summary = True, ""
        try:
            summary = job.run(JobContext(self.runtime, force=force))  # type: ignore[arg-type]
        except SQLAlchemyError as exc:
            ok, summary = False, f"failed: {describe(exc, str(self.db.url))}"
            log.warning("job %s failed: %s", job.name, summary)
        except Exception as exc:
            # The type only: an exception's text may quote data this summary must not hold.
            ok, summary = False, f"failed: {type(exc).__name__}"
            log.exception("job %s failed", job.name)
        try:
            claims.release(self.db, job.name, self.owner, ok=ok, result=summary, every=job.every)
        except Exception:
            log.exception("job %s: could not record its run (the lease expires)", job.name)
        return RunResult(job.name, True, ok, summary)

    def run_all(self, *, force: bool = False) -> list[RunResult]:
        return [self.run(job, force=force) for job in self.registry]

    def _ensure_rows(self) -> None:
        if not self._rows_ready:
            claims.ensure_rows(self.db, [j.name for j in self.registry])
            self._rows_ready = True

    # ---- the loop ----------------------------------------------------------------------------
    def wake(self) -> None:
        """There is work now (a request recorded, an event written): run the wakeable jobs."""
        self._wake.set()

    def start(self) -> JobRunner:
        self._thread = threading.Thread(target=self._loop, name="smsbot-jobs", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            woken = self._wake.is_set()
            self._wake.clear()
            now = time.monotonic()
            on_schedule = now >= self._next_tick
            if on_schedule:
                self._next_tick = now + TICK_SECONDS
            if self.runtime is not None and (on_schedule or woken):
                # The pass after the Slack requests being answered (bot.foreground): once per
                # pass, not per job, or a burst would hold back the last job once per job.
                self.runtime.foreground.yield_to()
            for job in self.registry:
                if self._stop.is_set():
                    return
                # Woken: the wakeable jobs run now, due or not (their claims still hold); the
                # others are looked at on the schedule's tick only.
                if not (on_schedule or (woken and job.wakeable)):
                    continue
                try:
                    self.run(job, force=woken and job.wakeable)
                except Exception:
                    log.exception("job loop: %s", job.name)
            self._wake.wait(max(0.0, self._next_tick - time.monotonic()))
