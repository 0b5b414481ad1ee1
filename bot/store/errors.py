"""Database problems in one line an operator can act on (never a traceback, never a password)."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from bot.store.urls import normalize_database_url

_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"connection refused", re.I), "nothing answers at {where}: is the server running?"),
    (
        re.compile(r'database "([^"]+)" does not exist', re.I),
        'the database "{0}" does not exist at {where}: create it, or fix DATABASE_URL',
    ),
    (
        re.compile(r'role "([^"]+)" does not exist', re.I),
        'the role "{0}" does not exist at {where}: create it, or fix the user in DATABASE_URL',
    ),
    (
        re.compile(r"password authentication failed for user \"([^\"]+)\"", re.I),
        'the password for "{0}" was refused at {where}: fix DATABASE_URL',
    ),
    (
        re.compile(r"could not translate host name|name or service not known|nodename nor", re.I),
        "the database host in DATABASE_URL ({where}) cannot be resolved: fix the host name",
    ),
    (
        re.compile(r"database is locked", re.I),
        "the SQLite database {where} stayed locked by another process for 30 s: try again "
        "when it is done",
    ),
    (
        re.compile(r"unable to open database file", re.I),
        "cannot open the SQLite file {where}: does its directory exist, and may we write there?",
    ),
    (re.compile(r"timeout expired|timed out", re.I), "no answer from {where} in time"),
]


def where(url: str) -> str:
    """host:port/database, or the SQLite file — never the password."""
    try:
        parsed = make_url(normalize_database_url(url))
    except (ArgumentError, ValueError):
        return "DATABASE_URL"
    if parsed.get_backend_name() == "sqlite":
        return str(Path(parsed.database).resolve()) if parsed.database else ":memory:"
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def describe(exc: BaseException, url: str) -> str:
    """One line for a database error: what is wrong and what to fix."""
    if isinstance(exc, NoSuchModuleError):
        return f"DATABASE_URL: {exc}; use postgresql://… (psycopg 3, installed) or sqlite:///FILE"
    if isinstance(exc, ArgumentError):
        return "DATABASE_URL: not a database URL (postgresql://user@host:port/db or sqlite:///FILE)"
    text = str(getattr(exc, "orig", None) or exc)
    place = where(url)
    for pattern, message in _RULES:
        match = pattern.search(text)
        if match:
            return "database: " + message.format(*match.groups(), where=place)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"database at {place}: {first[:200]}"


DatabaseFailure = (SQLAlchemyError,)
