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
