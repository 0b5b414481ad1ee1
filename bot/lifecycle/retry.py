"""Retry: the same message again as a new request, where nothing of the first reached the portal.
Front ends offer it (Slack's Retry button); the pipeline decides."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.authz import Principal
from bot.request_facts import retryable
from bot.send_types import SendCommand, Source, Submission
from bot.sms.message import Draft
from bot.store.models import SmsRequest

if TYPE_CHECKING:
    from bot.service import SendService


def retry_request(
    service: SendService, request_id: int, principal: Principal, source: Source
) -> Submission:
    """The same message again as a new request (a new sms_uid), through the whole pipeline —
    validation, authorization and approval included — linked to the original. Only for the
    requester, and only where nothing reached the portal: never for `unknown` (the message
    may have gone out) nor for anything accepted. A double click makes one retry."""
    with service.db.read() as session:
        original = session.get(SmsRequest, request_id)
    if original is None or original.requester != principal.user_id:
        return Submission("invalid", reason=f"there is no request #{request_id} of yours")
    if not retryable(original):
        return Submission(
            "invalid",
            reason=f"request #{request_id} is {original.state}: only a request that never "
            "reached the portal can be retried",
        )
    draft = Draft(
        iccid=original.iccid,
        message_text=original.message_text,
        data_coding=original.data_coding,
        origin=original.origin,
    )
    command = SendCommand(
        principal=principal,
        draft=draft,
        source=source,
        idempotency_key=f"retry-of:{request_id}",
        # The original's warnings were confirmed for these exact fields.
        confirmed=True,
        retry_of=request_id,
    )
    return service.submit(command)
