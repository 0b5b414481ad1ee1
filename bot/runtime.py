"""The composition root: settings → database → portal → send pipeline, for every front end."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select

from bot.approvals import Approvals
from bot.batches import Batches
from bot.config import Settings, secret_value
from bot.foreground import Foreground
from bot.jobs.listen import AuditListener
from bot.jobs.registry import core_jobs
from bot.jobs.runner import JobRunner
from bot.lifecycle.dispatch import Sender
from bot.portal.client import PortalClient
from bot.portal.protocol import Credentials
from bot.portal.sandbox import (
    DEMO_SIMS,
    SANDBOX_CREDENTIALS,
    SandboxPortal,
    SandboxServer,
    SandboxSim,
)
from bot.portal.sandbox_log import DatabaseLog
from bot.portal.sandbox_push import ReceiptPusher
from bot.service import SendService
from bot.store.db import Database
from bot.store.errors import where
from bot.store.migrate import ensure_schema
from bot.store.models import Sim

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    portal: PortalClient
    service: SendService
    approvals: Approvals
    sandbox: SandboxServer | None = None
    #: Fleet sends (one decision, SIM by SIM).
    batches: Batches = field(init=False)
    #: Sends started by the `dispatch` job run here, on their own threads.
    sender: Sender = field(init=False)
    #: The core's jobs (and front ends' consumers, added before `start_jobs`).
    jobs: JobRunner = field(init=False)
    #: Requests people wait on (Slack acks), which background work here yields to.
    foreground: Foreground = field(default_factory=Foreground)
    #: Wakes the jobs here when another process records something (PostgreSQL only).
    listener: AuditListener | None = field(default=None, init=False)
    _closed: bool = field(default=False, repr=False)
    _pusher: ReceiptPusher | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.sender = Sender(self.service, self.foreground)
        self.batches = Batches(self.service, self.settings.SMSBOT_BATCH_CONCURRENCY)
        registry = core_jobs()
        # Polls at finer steps than the job's default interval need the job to run that often.
        registry.run_more_often("poll_delivery", min(self.settings.poll_schedule))
        self.jobs = JobRunner(self, self.db, registry)

    def start_jobs(self) -> JobRunner:
        """Run the jobs in this process, woken whenever the core records something: here at
        once, and on PostgreSQL also when another process does (bot.jobs.listen)."""
        self.db.after_audit.append(self.jobs.wake)
        if self.db.is_postgresql:
            self.listener = AuditListener(self.db.engine, self.jobs.wake).start()
        return self.jobs.start()

    def start_sandbox_receipts(self, default_url: str) -> ReceiptPusher | None:
        """With the built-in sandbox and SMSBOT_SANDBOX_RECEIPTS=on, push its delivery receipts
        to SMSBOT_SANDBOX_RECEIPTS_URL (default: this process's /portal/receipts)."""
        settings = self.settings
        if self.sandbox is None or settings.SMSBOT_SANDBOX_RECEIPTS != "on":
            return None
        url = settings.SMSBOT_SANDBOX_RECEIPTS_URL or default_url
        passphrase = secret_value(settings.SMSBOT_RECEIPT_PASSPHRASE)
        self._pusher = ReceiptPusher(self.sandbox.portal, url, passphrase).start()
        log.info("sandbox: pushing delivery receipts to %s", url)
        return self._pusher

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._pusher is not None:
            self._pusher.stop()
        if self.listener is not None:
            self.listener.stop()
        self.jobs.stop()
        self.sender.shutdown()
        self.portal.close()
        if self.sandbox is not None:
            self.sandbox.stop()
        self.db.dispose()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def start_embedded_sandbox(db: Database, deliver_after: float = 5.0) -> SandboxServer:
    """The built-in sandbox portal, knowing the demo SIMs and every SIM in the inventory, with
    its SMS log in the bot's database (so its queues and log hold across CLI runs)."""
    with db.session() as session:
        sims = [
            SandboxSim(s.iccid, s.sim_type or "Multinet Orange", s.active)
            for s in session.execute(select(Sim)).scalars()
        ]

    portal = SandboxPortal([*DEMO_SIMS, *sims], deliver_after=deliver_after, log=DatabaseLog(db))
    return SandboxServer(portal).start()


def build_runtime(
    settings: Settings, *, migrate: bool = True, upgrade_behind: bool = True
) -> Runtime:
    """`upgrade_behind=False`: a schema an older smsbot migrated is refused (SchemaBehind)
    instead of upgraded — the CLI's everyday commands; `serve` and `worker` upgrade."""
    log.info("database: %s", where(settings.DATABASE_URL))
    db = Database(settings.DATABASE_URL, busy_seconds=settings.SMSBOT_SQLITE_BUSY_SECONDS)
    if migrate:
        try:
            ensure_schema(db.engine, upgrade_behind=upgrade_behind)
        except BaseException:
            db.dispose()
            raise
    sandbox: SandboxServer | None = None
    if settings.portal_mode == "sandbox":
        sandbox = start_embedded_sandbox(db, settings.SMSBOT_SANDBOX_DELIVER_SECONDS)
        portal = PortalClient(
            sandbox.url,
            SANDBOX_CREDENTIALS,
            sandbox=True,
            connect_timeout=settings.SMSBOT_PORTAL_CONNECT_TIMEOUT,
            read_timeout=settings.SMSBOT_PORTAL_READ_TIMEOUT,
            deadline=settings.SMSBOT_PORTAL_DEADLINE,
        )
        log.info("portal: built-in sandbox at %s (nothing is sent)", sandbox.url)
    else:
        credentials = Credentials(
            secret_value(settings.M2M_API_ID) or "",
            secret_value(settings.M2M_USERNAME) or "",
            secret_value(settings.M2M_PASSWORD) or "",
        )
        portal = PortalClient(
            settings.M2M_API_URL,
            credentials,
            connect_timeout=settings.SMSBOT_PORTAL_CONNECT_TIMEOUT,
            read_timeout=settings.SMSBOT_PORTAL_READ_TIMEOUT,
            deadline=settings.SMSBOT_PORTAL_DEADLINE,
        )
        log.info("portal: live at %s", settings.M2M_API_URL)
    service = SendService(
        db,
        portal,
        settings.admins,
        approval_channel=settings.SMSBOT_APPROVAL_CHANNEL,
        approval_ttl=timedelta(minutes=settings.SMSBOT_APPROVAL_TTL_MINUTES),
        queue_caps=settings.queue_caps,
        rate_user=settings.rate_user,
        rate_sim=settings.rate_sim,
        first_poll=settings.poll_schedule[0],
    )
    return Runtime(settings, db, portal, service, Approvals(service), sandbox)
