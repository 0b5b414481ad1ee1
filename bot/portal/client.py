"""httpx client for the portal: one outcome per send, never a silent resend.

Only failures that provably happened before the request left (no connection could be made) are
retried. Anything after the request may have reached the portal — a read timeout, a reset, a 5xx,
a body we cannot read — is `unknown` and is never resent automatically: a duplicate SMS to a device
is worse than asking a person to check the SMS log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

import httpx

from bot.portal.outcome import SendOutcome, categorize
from bot.portal.protocol import (
    REDACTED,
    Credentials,
    SendSms,
    SmsLogEntry,
    XmlError,
    build_query_sms_mt_details,
    build_send_sms,
    parse_response,
    parse_sms_details,
)

log = logging.getLogger(__name__)

_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_REASON_LIMIT = 500


class PortalError(Exception):
    """A query call failed; the message holds no credentials."""


class PortalClient:
    """Talks XML to one portal URL with one account."""

    def __init__(
        self,
        url: str,
        credentials: Credentials,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        connect_attempts: int = 3,
        retry_backoff: float = 0.2,
        verify: bool = True,
        sandbox: bool = False,
    ) -> None:
        self.url = url
        self.sandbox = sandbox
        self._credentials = credentials
        self._connect_attempts = max(1, connect_attempts)
        self._retry_backoff = retry_backoff
        self._http = httpx.Client(
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout, pool=connect_timeout),
            verify=verify,
            headers={"Content-Type": "application/xml", "Accept": "application/xml"},
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PortalClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def redacted_request(self, message: SendSms) -> str:
        """The send_sms body as it may be stored: the password replaced."""
        return build_send_sms(message, self._credentials, redact=True).decode("utf-8")

    def _scrub(self, text: str) -> str:
        """Remove the password from any text that came back (a proxy may echo the request)."""
        password = self._credentials.password
        cleaned = text.replace(password, REDACTED) if password else text
        return cleaned[:_REASON_LIMIT]

    def _post(self, body: bytes) -> tuple[httpx.Response, int]:
        """POST with retries for connect failures only; returns the response and attempts."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._http.post(self.url, content=body), attempt
            except _NEVER_SENT:
                if attempt >= self._connect_attempts:
                    raise
                time.sleep(self._retry_backoff * attempt)

    def send_sms(self, message: SendSms) -> SendOutcome:
        """Post one send_sms and say what became of it."""
        body = build_send_sms(message, self._credentials)
        started = time.perf_counter()
        attempts = 1
        try:
            response, attempts = self._post(body)
        except _NEVER_SENT as exc:
            attempts = self._connect_attempts
            result = SendOutcome(
                "rejected",
                category="other",
                reached_portal=False,
                reason=f"could not connect to the portal ({type(exc).__name__}); nothing was sent",
            )
        except httpx.TimeoutException as exc:
            result = SendOutcome(
                "unknown", reason=f"no answer from the portal in time ({type(exc).__name__})"
            )
        except httpx.HTTPError as exc:
            result = SendOutcome(
                "unknown",
                reason=f"the connection failed after the request was sent ({type(exc).__name__})",
            )
        else:
            result = classify_send_response(response.status_code, response.content, self._scrub)
        return replace(
            result,
            attempts=attempts,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            sandbox=self.sandbox,
        )

    def query_sms_mt_details(self, iccid: str, lastx: int | None = None) -> list[SmsLogEntry]:
        """The SIM's latest mobile-terminated messages, newest first."""
        body = build_query_sms_mt_details(iccid, self._credentials, lastx=lastx)
        try:
            response, _ = self._post(body)
        except httpx.HTTPError as exc:
            raise PortalError(f"portal query failed: {type(exc).__name__}") from None
        try:
            parsed = parse_response(response.content, "query_sms_mt_details")
        except XmlError as exc:
            raise PortalError(f"portal answered HTTP {response.status_code}: {exc}") from None
        if not parsed.succeeded:
            raise PortalError(self._scrub(parsed.failure_reason()))
        return parse_sms_details(parsed)


def classify_send_response(
    status_code: int, body: bytes, scrub: Callable[[str], str] | None = None
) -> SendOutcome:
    """Map an HTTP answer to an outcome. `scrub` removes secrets from text that came back."""
    clean = scrub or (lambda text: text[:_REASON_LIMIT])
    if status_code >= 500:
        return SendOutcome(
            "unknown", http_status=status_code, reason=f"the portal answered HTTP {status_code}"
        )
    try:
        parsed = parse_response(body, "send_sms")
    except XmlError as exc:
        if 400 <= status_code < 500:
            # A 4xx means the request was refused before processing: nothing was sent.
            text = clean(body.decode("utf-8", "replace").strip()) or f"HTTP {status_code}"
            return SendOutcome(
                "rejected",
                http_status=status_code,
                category=categorize(text),
                reason=f"HTTP {status_code}: {text}",
            )
        return SendOutcome(
            "unknown",
            http_status=status_code,
            reason=f"the portal's answer was not the expected XML ({clean(str(exc))})",
        )
    if parsed.outcome is None:
        return SendOutcome(
            "unknown", http_status=status_code, reason="the portal's answer had no api_outcome"
        )
    if parsed.succeeded:
        if 200 <= status_code < 300:
            return SendOutcome("accepted", http_status=status_code)
        return SendOutcome(
            "unknown",
            http_status=status_code,
            reason=f"the portal said success with HTTP {status_code}",
        )
    reason = clean(parsed.failure_reason())
    return SendOutcome(
        "rejected", http_status=status_code, category=categorize(reason), reason=reason
    )
