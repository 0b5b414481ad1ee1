"""Prometheus metrics (served at GET /metrics in HTTP mode)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

SUBMISSIONS = Counter(
    "smsbot_submissions_total", "Send submissions by result", ["result", "source"]
)
SENDS = Counter("smsbot_sends_total", "send_sms calls by outcome", ["outcome"])
PORTAL_SECONDS = Histogram(
    "smsbot_portal_seconds",
    "Time of one send_sms call to the portal",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SLACK_UNDELIVERED = Counter(
    "smsbot_slack_undelivered_total",
    "Slack messages that could not be delivered by any route (the requester was not told)",
    ["kind"],
)
SLACK_FALLBACKS = Counter(
    "smsbot_slack_fallbacks_total",
    "Slack messages delivered by a fallback route after the first choice failed",
    ["route"],
)

#: The audit chain's head (bot.store.audit): how long a transaction waited for it, and how long
#: it held it (from taking it to the end of the commit). Every change takes it once, at the end:
#: the hold time times the changes per second is how busy it is.
AUDIT_HEAD_WAIT = Histogram(
    "smsbot_audit_head_wait_seconds",
    "time a transaction waited to take the audit chain's head (on PostgreSQL, where one "
    "statement takes it and appends, the whole statement)",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
AUDIT_HEAD_HOLD = Histogram(
    "smsbot_audit_head_hold_seconds",
    "time a transaction held the audit chain's head until its commit ended (on PostgreSQL "
    "counted from the end of the appending statement)",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)

#: bot.foreground: background work (sends, thread replies, jobs) held back while Slack requests
#: were being answered.
BACKGROUND_DEFERRED = Histogram(
    "smsbot_background_deferred_seconds",
    "time one item of background work waited for the Slack requests being answered",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5),
)
