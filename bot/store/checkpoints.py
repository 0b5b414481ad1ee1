"""Audit checkpoints: the chain's head (seq, hash) at a moment, signed with HMAC-SHA256 under
SMSBOT_AUDIT_KEY — a key the database never holds.

The hash chain catches any edit that does not recompute the hashes after it. Someone with write
access to the database can rewrite history and recompute every hash; `audit verify` alone would
then say "intact". A checkpoint taken before the rewrite still names the old hash of its row, and
it cannot be re-signed without the key: `verify` finds the first checkpoint that no longer
matches. (Deleting checkpoint rows is the one thing left: keep a copy elsewhere too — the
`audit checkpoint` line printed or logged, sent to another system.)
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store import audit
from bot.store.models import AuditCheckpoint, AuditEvent, AuditHead


def key_id(key: bytes) -> str:
    """Which key signed a checkpoint: a digest of the key, never the key."""
    return hmac.new(key, b"smsbot audit key id", hashlib.sha256).hexdigest()[:16]


def signature(key: bytes, seq: int, head_hash: str, taken_at: str) -> str:
    form = audit.canonical_json({"seq": seq, "hash": head_hash, "taken_at": taken_at})
    return hmac.new(key, form.encode("utf-8"), hashlib.sha256).hexdigest()


def take(session: Session, key: bytes) -> AuditCheckpoint | None:
    """Sign the current head; None when the newest checkpoint already covers it."""
    head = session.get(AuditHead, audit.HEAD_ID)
    if head is None or head.seq == 0:
        return None
    last = session.execute(
        select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)
    ).scalar_one_or_none()
    if last is not None and last.seq == head.seq:
        return None
    taken_at = audit.format_ts(audit.utc_now())
    checkpoint = AuditCheckpoint(
        seq=head.seq,
        hash=head.hash,
        taken_at=taken_at,
        key_id=key_id(key),
        mac=signature(key, head.seq, head.hash, taken_at),
    )
    session.add(checkpoint)
    session.flush()
    return checkpoint


@dataclass(frozen=True)
class CheckpointReport:
    checked: int
    #: The first checkpoint that failed and why (None: all matched).
    bad_id: int | None = None
    problem: str = ""
    #: False when no key was given: the rows were compared, the signatures not.
    signed: bool = True
    last: AuditCheckpoint | None = None

    @property
    def ok(self) -> bool:
        return self.bad_id is None


def check(session: Session, key: bytes | None) -> CheckpointReport:
    """Every checkpoint, oldest first: signed by this key, and its row still has its hash."""
    checkpoints = list(
        session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)).scalars()
    )
    for n, cp in enumerate(checkpoints):
        where = f"checkpoint #{cp.id} (row {cp.seq}, taken {cp.taken_at})"
        if key is not None and not hmac.compare_digest(
            cp.mac, signature(key, cp.seq, cp.hash, cp.taken_at)
        ):
            why = (
                "signed with another key"
                if cp.key_id != key_id(key)
                else "its signature does not match: it was forged or altered"
            )
            return CheckpointReport(n, cp.id, f"{where} is not valid under SMSBOT_AUDIT_KEY: {why}")
        row = session.get(AuditEvent, cp.seq)
        if row is None or row.hash != cp.hash:
            return CheckpointReport(
                n,
                cp.id,
                f"{where} no longer matches the log: history was rewritten at or before row "
                f"{cp.seq}",
            )
    return CheckpointReport(
        len(checkpoints), signed=key is not None, last=checkpoints[-1] if checkpoints else None
    )
