"""Database URL handling: accept the libpq/platform forms and pick the driver we ship."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


def normalize_database_url(url: str) -> str:
    """Map `postgres://` and `postgresql://` to the psycopg 3 driver; keep explicit drivers.

    Hosting platforms and libpq hand out `postgres://user@host/db`; SQLAlchemy would pick
    psycopg2 for `postgresql://`, which we do not install.
    """
    raw = url.strip()
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw.removeprefix("postgres://")
    try:
        parsed = make_url(raw)
    except ArgumentError:
        raise ValueError(
            "is not a database URL (expected sqlite:///FILE or postgresql://…)"
        ) from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError("only SQLite and PostgreSQL are supported")
    return parsed.render_as_string(hide_password=False)
