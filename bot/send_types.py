"""What front ends hand the send pipeline and what it answers (bot.service)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bot.authz import Principal
from bot.portal.outcome import SendOutcome
from bot.sms.message import CheckedMessage, Draft, SimInfo
from bot.sms.problems import Problem, errors, warnings
from bot.store.models import SmsRequest

Source = Literal["cli", "slack"]

#: What a single or fleet submission answers when its bounded wait ran out (nothing was
#: recorded or sent): the core's `busy`, and a Slack form too late to ask the database at all.
BUSY_REASON = "the bot's database is busy right now: nothing was sent, try again in a few seconds"
SubmitStatus = Literal[
    "invalid",
    "needs_confirmation",
    "denied",
    "duplicate",
    "recorded",
    "awaiting_approval",
    "busy",
]


@dataclass(frozen=True)
class SendCommand:
    """What a front end hands the pipeline."""

    principal: Principal
    draft: Draft
    source: Source
    #: Same key → same request (Slack retries, double submits, a re-run CLI command).
    idempotency_key: str | None = None
    #: The user has seen the warnings and wants to send anyway.
    confirmed: bool = False
    #: The digest of the warnings the user was shown and confirmed (Slack's form); None when
    #: the confirmation is given with the request itself (the CLI's --yes after reading them).
    confirmation: str | None = None
    #: The request this one sends again (see SendService.retry).
    retry_of: int | None = None
    #: The message template the text comes from, and its placeholders' values (the draft's
    #: text is then ignored; see bot.templates).
    template: str | None = None
    variables: tuple[tuple[str, str], ...] = ()
    #: What the front end could not read in the input (e.g. a template value line without `=`):
    #: refused and audited by the core like any invalid field.
    input_problems: tuple[Problem, ...] = ()


@dataclass
class Submission:
    status: SubmitStatus
    problems: list[Problem] = field(default_factory=list)
    checked: CheckedMessage | None = None
    sim: SimInfo | None = None
    request: SmsRequest | None = None
    audit_seq: int | None = None
    reason: str = ""
    #: The request was recorded already claimed for sending by this call (see `send`).
    claimed: bool = False

    @property
    def errors(self) -> list[Problem]:
        return errors(self.problems)

    @property
    def warnings(self) -> list[Problem]:
        return warnings(self.problems)


@dataclass
class Execution:
    """The result of `execute`: the request as it now stands and, if this call sent it, how."""

    request: SmsRequest
    outcome: SendOutcome | None
    audit_seq: int | None
    #: False when another caller had already claimed the request (nothing was sent by this call).
    sent_by_this_call: bool
