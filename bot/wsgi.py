"""The one WSGI answer helper shared by the sandbox portal and the bot's HTTP routes."""

from __future__ import annotations

from wsgiref.types import StartResponse, WSGIEnvironment


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


def read_body(environ: WSGIEnvironment, cap: int) -> bytes | None:
    """The request body, at most `cap` bytes: None when it is larger (or says it is), so the
    caller answers 413 without having read more than the cap."""
    declared = environ.get("CONTENT_LENGTH") or ""
    if declared and (not declared.isascii() or not declared.isdigit()):
        return None
    if declared and int(declared) > cap:
        return None
    data: bytes = environ["wsgi.input"].read(int(declared) if declared else cap + 1)
    return None if len(data) > cap else data
