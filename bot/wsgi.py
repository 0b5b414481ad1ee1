"""The one WSGI answer helper shared by the sandbox portal and the bot's HTTP routes."""

from __future__ import annotations

from wsgiref.types import StartResponse


def reply(
    start_response: StartResponse, status: str, body: bytes | str, content_type: str = "text/plain"
) -> list[bytes]:
    """Send `body` (UTF-8) with its length and type."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    start_response(
        status,
        [("Content-Type", f"{content_type}; charset=utf-8"), ("Content-Length", str(len(data)))],
    )
    return [data]
