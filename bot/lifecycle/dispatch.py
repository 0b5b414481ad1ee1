"""Sending what is ready, and recovering what a crash left behind: the `dispatch` job.

A request is `recorded` (no approval needed) or `approved` until someone sends it. Whichever
process made it ready wakes its job runner, so the normal path sends at once; the same job on any
replica finds requests that a crash or `docker stop` left between the ack and the send. Each is
sent through the normal claim (`SendService.execute`: a conditional state change), so however many
replicas find it, it goes out once. A request older than SMSBOT_RECOVER_CUTOFF_MINUTES is not sent
late: it becomes `abandoned`, audited with the reason, and the requester is told (rendered).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select

from bot.foreground import Foreground
from bot.jobs.registry import JobContext, job
from bot.service import SENDABLE_STATES, SendService
from bot.store import audit
from bot.store.db import Database
from bot.store.models import SmsRequest
from bot.store.requests import transition_audited

log = logging.getLogger(__name__)


class Sender:
    """Sends requests in a pool of threads, so a slow portal call holds neither the job runner
    nor other sends. A request already queued in this process is not queued twice."""

    def __init__(
        self, service: SendService, foreground: Foreground | None = None, threads: int = 16
    ) -> None:
        self.service = service
        self.foreground = foreground or Foreground()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="smsbot-send")
        self._queued: set[int] = set()
        self._lock = threading.Lock()
        self._futures: set[Future[None]] = set()

    def submit(self, request_id: int, actor: str) -> bool:
        with self._lock:
            if request_id in self._queued:
                return False
            self._queued.add(request_id)
        future = self._pool.submit(self._send, request_id, actor)
        self._futures.add(future)
        future.add_done_callback(self._futures.discard)
        return True

    def _send(self, request_id: int, actor: str) -> None:
        try:
            # After the acks in progress (bot.foreground): a burst of forms is answered first.
            self.foreground.yield_to()
            self.service.execute(request_id, actor)
        except Exception:
            log.exception("sending request #%s failed", request_id)
        finally:
            with self._lock:
                self._queued.discard(request_id)

    def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the sends started; True when all finished."""
        _, not_done = wait(set(self._futures), timeout=max(0.0, timeout))
        return not not_done

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _too_old(cutoff: datetime) -> ColumnElement[bool]:
    # A fleet send's SIMs are released a few at a time, long after the batch was made or
    # approved: they are not abandoned by age (stopping the batch cancels them).
    return and_(
        SmsRequest.batch_id.is_(None),
        or_(
            and_(SmsRequest.state == "recorded", SmsRequest.created_at < cutoff),
            and_(SmsRequest.state == "approved", SmsRequest.decided_at < cutoff),
        ),
    )


def abandon_old(db: Database, cutoff_minutes: float) -> list[int]:
    """`recorded`/`approved` requests past the cut-off become `abandoned` (each once)."""
    cutoff = audit.utc_now() - timedelta(minutes=cutoff_minutes)
    with db.read() as session:
        old = session.execute(select(SmsRequest.id, SmsRequest.state).where(_too_old(cutoff))).all()
    reason = (
        f"not sent: the bot stopped before sending it, and it is now older than "
        f"{cutoff_minutes:g} minutes (SMSBOT_RECOVER_CUTOFF_MINUTES); send it again if it is "
        "still wanted"
    )
    done = []
    for request_id, state in old:
        with db.session() as session:
            if transition_audited(
                session,
                request_id,
                (state,),
                "abandoned",
                event="abandoned",
                actor="system",
                details={
                    "was": state,
                    "cutoff_minutes": cutoff_minutes,
                    "reason": "left unsent by a stopped bot",
                },
                completed_at=audit.utc_now(),
                outcome_reason=reason,
            ):
                done.append(request_id)
    return done


def ready(db: Database) -> list[tuple[int, str]]:
    """Requests waiting to be sent (id, requester), oldest first."""
    with db.read() as session:
        return [
            (rid, requester)
            for rid, requester in session.execute(
                select(SmsRequest.id, SmsRequest.requester)
                .where(SmsRequest.state.in_(SENDABLE_STATES))
                .order_by(SmsRequest.id)
            ).all()
        ]


@job(
    "dispatch",
    timedelta(seconds=5),
    "send recorded/approved requests (also those a crash left); abandon ones older than "
    "SMSBOT_RECOVER_CUTOFF_MINUTES",
    wakeable=True,
)
def dispatch(ctx: JobContext) -> str:
    runtime = ctx.runtime
    abandoned = abandon_old(runtime.db, runtime.settings.SMSBOT_RECOVER_CUTOFF_MINUTES)
    started = sum(
        1
        for request_id, requester in ready(runtime.db)
        if runtime.sender.submit(request_id, requester)
    )
    return f"{started} send(s) started, {len(abandoned)} abandoned"
