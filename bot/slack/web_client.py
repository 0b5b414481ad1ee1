"""slack_sdk's WebClient over a pool of kept-alive connections.

slack_sdk's sync client sends each Web API call through `urllib.request.urlopen`: a new TCP (and
TLS) connection per call — every thread reply, `views.open` and `chat.update`. This subclass
changes only that last step, sending the request slack_sdk built through one `httpx.Client`
(connections reused, thread-safe), and answers the way urllib would — an `HTTPError` for a 4xx/5xx
(so slack_sdk's retry handlers, `Retry-After` on 429 included, work unchanged) and a `URLError`
for a connection that failed — so everything above it, our error handling too, is as before.
"""

from __future__ import annotations

import email.message
import io
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request

import httpx
from slack_sdk import WebClient

#: Slack's answers are small JSON; anything bigger than this is not a Web API answer (read no
#: further).
MAX_BODY = 8 * 1024 * 1024


def _message(headers: httpx.Headers) -> email.message.Message:
    message = email.message.Message()
    for key, value in headers.multi_items():
        message[key] = value
    return message


def _read_capped(resp: httpx.Response) -> bytes:
    """The body, read at most MAX_BODY bytes far: a bigger one is refused, not held."""
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.iter_bytes():
        size += len(chunk)
        if size > MAX_BODY:
            raise URLError(f"answer over {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class PooledWebClient(WebClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._http = httpx.Client(
            timeout=self.timeout,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            verify=self.ssl if self.ssl is not None else True,
        )

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        if not url.lower().startswith(("http://", "https://")):
            raise URLError(f"invalid URL: {url}")
        data = req.data if isinstance(req.data, bytes) else None
        sent = {k: str(v) for k, v in req.header_items()}
        try:
            with self._http.stream(req.get_method(), url, content=data, headers=sent) as resp:
                body = _read_capped(resp)
        except httpx.TimeoutException as exc:
            raise URLError(TimeoutError(str(exc))) from None
        except httpx.TransportError as exc:
            raise URLError(f"{type(exc).__name__}: {exc}") from None
        headers = _message(resp.headers)
        if resp.status_code >= 400:
            raise HTTPError(url, resp.status_code, resp.reason_phrase, headers, io.BytesIO(body))
        if headers.get_content_type() == "application/gzip":
            return {"status": resp.status_code, "headers": headers, "body": body}
        charset = headers.get_content_charset() or "utf-8"
        return {"status": resp.status_code, "headers": headers, "body": body.decode(charset)}

    def close(self) -> None:
        self._http.close()
