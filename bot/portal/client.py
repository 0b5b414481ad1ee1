"""httpx client for the portal: one outcome per send, never a silent resend.

Only failures that provably happened before the request left (no connection could be made) are
retried. Anything after the request may have reached the portal — a read timeout, a reset, a 5xx,
a body we cannot read — is `unknown` and is never resent automatically: a duplicate SMS to a device
is worse than asking a person to check the SMS log.
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, quote_plus

import httpx

from bot.portal.call_threads import CallThreads
from bot.portal.outcome import SendOutcome, categorize
from bot.portal.protocol import (
    MAX_XML_BYTES,
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
from bot.signals import wait_waking

log = logging.getLogger(__name__)

_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_REASON_LIMIT = 500
#: httpcore trace event that marks the moment the request starts to leave this process.
_SENDING = "send_request_headers.started"


class PortalError(Exception):
    """A query call failed; the message holds no credentials."""


class DeadlineExceeded(Exception):
    """No complete answer within the call's overall deadline."""

    def __init__(self, sent: bool) -> None:
        super().__init__("deadline")
        self.sent = sent


class BodyTooLarge(Exception):
    """The answer is larger than the cap (counted while reading, before and after decoding)."""


@dataclass
class _Progress:
    """What a call has done so far, written by the worker thread, read by the caller."""

    sent: bool = False
    attempts: int = 0


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: bytes
    attempts: int


def _read_capped(response: httpx.Response, deadline: float, cap: int) -> bytes:
    """The body, read chunk by chunk: refused as soon as it passes `cap` bytes on the wire or
    once decoded (gzip/deflate are decoded here with a bounded decompressor, never by httpx), and
    abandoned at the deadline."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > cap:
        raise BodyTooLarge(f"declared {declared} bytes")
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        decoder: Any = zlib.decompressobj(wbits=47 if encoding != "deflate" else 15)
    elif encoding in ("", "identity"):
        decoder = None
    else:
        raise BodyTooLarge(f"unsupported Content-Encoding {encoding!r}")
    raw = 0
    out = bytearray()
    for chunk in response.iter_raw():
        if time.monotonic() > deadline:
            raise DeadlineExceeded(sent=True)
        raw += len(chunk)
        if raw > cap:
            raise BodyTooLarge(f"more than {cap} bytes")
        piece = chunk if decoder is None else decoder.decompress(chunk, cap + 1 - len(out))
        out += piece
        if len(out) > cap or (decoder is not None and decoder.unconsumed_tail):
            raise BodyTooLarge(f"more than {cap} bytes once decoded")
    return bytes(out)


#: Where every exchange runs, shared by all clients in the process.
_CALL_THREADS = CallThreads("portal-call")


class PortalClient:
    """Talks XML to one portal URL with one account."""

    def __init__(
        self,
        url: str,
        credentials: Credentials,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        deadline: float = 30.0,
        connect_attempts: int = 3,
        retry_backoff: float = 0.2,
        verify: bool = True,
        sandbox: bool = False,
        max_body: int = MAX_XML_BYTES,
    ) -> None:
        self.url = url
        self.sandbox = sandbox
        #: Seconds one call may take in all (connect, send, read), whatever the portal does.
        self.deadline = deadline
        self._credentials = credentials
        self._connect_attempts = max(1, connect_attempts)
        self._retry_backoff = retry_backoff
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._max_body = max_body
        self._http = httpx.Client(
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout, pool=connect_timeout),
            # A plain-http URL (the local sandbox) never uses TLS (redirects are not followed):
            # no certificate store to load, which is a sixth of a CLI command's run time.
            verify=verify if url.lower().startswith("https:") else False,
            # Asked for plain bytes; an answer compressed anyway is decoded with a bounded
            # decompressor (_read_capped).
            headers={
                "Content-Type": "application/xml",
                "Accept": "application/xml",
                "Accept-Encoding": "identity",
            },
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
        return scrub_secret(text, self._credentials.password)[:_REASON_LIMIT]

    def _exchange_blocking(self, body: bytes, deadline: float, progress: _Progress) -> Answer:
        """POST with retries for connect failures only, and read the capped answer."""

        def trace(event: str, info: dict[str, Any]) -> None:
            if event.endswith(_SENDING):
                progress.sent = True

        while True:
            progress.attempts += 1
            remaining = max(0.001, deadline - time.monotonic())
            timeout = httpx.Timeout(
                min(self._read_timeout, remaining),
                connect=min(self._connect_timeout, remaining),
                pool=min(self._connect_timeout, remaining),
            )
            try:
                with self._http.stream(
                    "POST", self.url, content=body, timeout=timeout, extensions={"trace": trace}
                ) as response:
                    data = _read_capped(response, deadline, self._max_body)
                    return Answer(response.status_code, data, progress.attempts)
            except _NEVER_SENT:
                pause = self._retry_backoff * progress.attempts
                if progress.attempts >= self._connect_attempts or (
                    time.monotonic() + pause >= deadline
                ):
                    raise
                time.sleep(pause)

    def _exchange(self, body: bytes) -> Answer:
        """One call within the overall deadline. The blocking exchange runs in its own thread so
        the caller gets an answer at the deadline at the latest, even from a portal that trickles
        bytes; a late answer is discarded, never recorded."""
        deadline = time.monotonic() + self.deadline
        progress = _Progress()
        result: list[Answer | BaseException] = []
        done = threading.Event()

        def work() -> None:
            try:
                result.append(self._exchange_blocking(body, deadline, progress))
            except BaseException as exc:
                result.append(exc)
            finally:
                done.set()

        _CALL_THREADS.run(work)
        if not wait_waking(done, max(0.0, deadline - time.monotonic()) + 0.05):
            raise DeadlineExceeded(sent=progress.sent)
        answer = result[0]
        if isinstance(answer, DeadlineExceeded):
            raise DeadlineExceeded(sent=True)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def send_sms(self, message: SendSms) -> SendOutcome:
        """Post one send_sms and say what became of it."""
        body = build_send_sms(message, self._credentials)
        started = time.perf_counter()
        attempts = 1
        try:
            answer = self._exchange(body)
        except _NEVER_SENT as exc:
            attempts = self._connect_attempts
            result = SendOutcome(
                "rejected",
                category="other",
                reached_portal=False,
                reason=f"could not connect to the portal ({type(exc).__name__}); nothing was sent",
            )
        except DeadlineExceeded as exc:
            if exc.sent:
                result = SendOutcome(
                    "unknown",
                    reason=f"no complete answer from the portal within {self.deadline:g} s",
                )
            else:
                result = SendOutcome(
                    "rejected",
                    category="other",
                    reached_portal=False,
                    reason=(
                        f"could not reach the portal within {self.deadline:g} s; nothing was sent"
                    ),
                )
        except BodyTooLarge as exc:
            result = SendOutcome(
                "unknown", reason=f"the portal's answer was refused unread ({exc})"
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
            attempts = answer.attempts
            result = classify_send_response(answer.status_code, answer.body, self._scrub)
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
            answer = self._exchange(body)
        except (httpx.HTTPError, DeadlineExceeded, BodyTooLarge) as exc:
            raise PortalError(f"portal query failed: {type(exc).__name__}") from None
        try:
            parsed = parse_response(answer.body, "query_sms_mt_details")
        except XmlError as exc:
            raise PortalError(f"portal answered HTTP {answer.status_code}: {exc}") from None
        if parsed.ambiguity:
            raise PortalError(f"the portal's answer is ambiguous ({parsed.ambiguity})")
        if not parsed.succeeded:
            raise PortalError(self._scrub(parsed.failure_reason()))
        return parse_sms_details(parsed)


_PASSWORD_ELEMENT = re.compile(r"<password\b[^>]*>.*?</password\s*>", re.IGNORECASE | re.DOTALL)


def secret_forms(secret: str) -> set[str]:
    """Every spelling of `secret` that text we store or show may hold: raw, XML/HTML-escaped
    (named and numeric entities), URL-encoded, JSON-escaped."""
    if not secret:
        return set()
    forms = {
        secret,
        html.escape(secret, quote=False),
        html.escape(secret, quote=True),
        secret.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
        "".join(f"&#{ord(c)};" for c in secret),
        "".join(f"&#x{ord(c):x};" for c in secret),
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    return {f for f in forms if f}


def scrub_secret(text: str, secret: str) -> str:
    """`text` with any echoed `<password>` element emptied and every form of `secret` removed."""
    cleaned = _PASSWORD_ELEMENT.sub(f"<password>{REDACTED}</password>", text)
    for form in sorted(secret_forms(secret), key=len, reverse=True):
        cleaned = cleaned.replace(form, REDACTED)
    return cleaned


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
    if parsed.ambiguity is not None:
        return SendOutcome(
            "unknown",
            http_status=status_code,
            reason=f"the portal's answer is ambiguous ({parsed.ambiguity})",
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
