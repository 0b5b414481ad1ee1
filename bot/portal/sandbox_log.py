"""Where the sandbox portal keeps its SMS log: in memory (a standalone or test sandbox; bounded),
or in the bot's database (the embedded sandbox: the log, and so the KPN queue cap, hold across
CLI runs; table `sandbox_sms_log`)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import func, insert, select, update

from bot.store.db import Database
from bot.store.grants import aware
from bot.store.models import Base, SandboxSmsLog

_LOG = Base.metadata.tables["sandbox_sms_log"]


@dataclass
class LoggedSms:
    sent_at: datetime
    iccid: str
    message_text: str
    sms_uid: str | None
    origin: str = "api"
    id: int = 0
    receipt_pushed: bool = False


class SmsLog(Protocol):
    def append(self, sms: LoggedSms) -> None: ...

    def newest(self, iccid: str, limit: int) -> list[LoggedSms]:
        """The SIM's messages, newest first."""
        ...

    def sent_since(self, iccid: str, since: datetime) -> int:
        """How many of the SIM's messages were sent after `since`."""
        ...

    def count(self, iccid: str) -> int: ...

    def unpushed(self, before: datetime, limit: int) -> list[LoggedSms]:
        """Messages with an sms_uid sent before `before` whose receipt was not pushed."""
        ...

    def mark_pushed(self, sms: LoggedSms, pushed: bool) -> bool:
        """Set the flag; True when this call changed it (a claim on pushing)."""
        ...


class MemoryLog:
    """The log in memory, keeping at most `limit` messages (oldest dropped)."""

    def __init__(self, limit: int = 10_000) -> None:
        self._log: deque[LoggedSms] = deque(maxlen=limit)
        self._lock = threading.Lock()
        self._next = 1

    def append(self, sms: LoggedSms) -> None:
        with self._lock:
            sms.id = self._next
            self._next += 1
            self._log.append(sms)

    def newest(self, iccid: str, limit: int) -> list[LoggedSms]:
        with self._lock:
            return [m for m in reversed(self._log) if m.iccid == iccid][:limit]

    def sent_since(self, iccid: str, since: datetime) -> int:
        with self._lock:
            return sum(1 for m in self._log if m.iccid == iccid and m.sent_at > since)

    def count(self, iccid: str) -> int:
        with self._lock:
            return sum(1 for m in self._log if m.iccid == iccid)

    def unpushed(self, before: datetime, limit: int) -> list[LoggedSms]:
        with self._lock:
            return [
                m for m in self._log if m.sms_uid and not m.receipt_pushed and m.sent_at <= before
            ][:limit]

    def mark_pushed(self, sms: LoggedSms, pushed: bool) -> bool:
        with self._lock:
            if sms.receipt_pushed == pushed:
                return False
            sms.receipt_pushed = pushed
            return True


class DatabaseLog:
    """The log in the bot's database (the embedded sandbox)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, sms: LoggedSms) -> None:
        with self.db.session() as session:
            session.execute(
                insert(_LOG).values(
                    iccid=sms.iccid,
                    sms_uid=sms.sms_uid,
                    message_text=sms.message_text,
                    origin=sms.origin,
                    sent_at=sms.sent_at,
                    receipt_pushed=False,
                )
            )

    @staticmethod
    def _entry(row: SandboxSmsLog) -> LoggedSms:
        sent = aware(row.sent_at) or datetime.now(UTC)
        return LoggedSms(
            sent, row.iccid, row.message_text, row.sms_uid, row.origin, row.id, row.receipt_pushed
        )

    def newest(self, iccid: str, limit: int) -> list[LoggedSms]:
        with self.db.read() as session:
            rows = session.execute(
                select(SandboxSmsLog)
                .where(SandboxSmsLog.iccid == iccid)
                .order_by(SandboxSmsLog.id.desc())
                .limit(limit)
            ).scalars()
            return [self._entry(r) for r in rows]

    def sent_since(self, iccid: str, since: datetime) -> int:
        with self.db.read() as session:
            return int(
                session.execute(
                    select(func.count())
                    .select_from(SandboxSmsLog)
                    .where(SandboxSmsLog.iccid == iccid, SandboxSmsLog.sent_at > since)
                ).scalar_one()
            )

    def count(self, iccid: str) -> int:
        with self.db.read() as session:
            return int(
                session.execute(
                    select(func.count())
                    .select_from(SandboxSmsLog)
                    .where(SandboxSmsLog.iccid == iccid)
                ).scalar_one()
            )

    def unpushed(self, before: datetime, limit: int) -> list[LoggedSms]:
        with self.db.read() as session:
            rows = session.execute(
                select(SandboxSmsLog)
                .where(
                    SandboxSmsLog.sms_uid.is_not(None),
                    SandboxSmsLog.receipt_pushed.is_(False),
                    SandboxSmsLog.sent_at <= before,
                )
                .order_by(SandboxSmsLog.id)
                .limit(limit)
            ).scalars()
            return [self._entry(r) for r in rows]

    def mark_pushed(self, sms: LoggedSms, pushed: bool) -> bool:
        with self.db.session() as session:
            changed = session.connection().execute(
                update(_LOG)
                .where(_LOG.c.id == sms.id, _LOG.c.receipt_pushed.is_(not pushed))
                .values(receipt_pushed=pushed)
            )
            return changed.rowcount == 1


def delivered_by(deliver_after: float) -> datetime:
    """Messages sent before this moment count as delivered (to online SIMs)."""
    return datetime.now(UTC) - timedelta(seconds=deliver_after)
