"""`smsbot`: the command line. Sends go through the same pipeline as Slack (bot.service).

Each module registers its commands on the one `cli` group (bot.cli.common), imported only when
one of its commands runs; `main` turns every failure into one line `smsbot: …`.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import click
from sqlalchemy.exc import SQLAlchemyError

from bot.cli.common import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, Fail, cli, say
from bot.config import DEFAULT_DATABASE_URL
from bot.store.errors import describe as describe_db_error

__all__ = ["cli", "main"]


def main() -> NoReturn:
    """Entry point: click errors, database and file problems become one line `smsbot: …` and a
    non-zero status (2 for what the operator must fix), never a traceback."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        say("smsbot: aborted", err=True)
        sys.exit(EXIT_REFUSED)
    except click.ClickException as exc:
        say(f"smsbot: {exc.format_message()}", err=True)
        sys.exit(exc.status if isinstance(exc, Fail) else exc.exit_code)
    except SQLAlchemyError as exc:
        url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
        say(f"smsbot: {describe_db_error(exc, url)}", err=True)
        sys.exit(EXIT_USAGE)
    except OSError as exc:
        name = f" {exc.filename}" if exc.filename else ""
        say(f"smsbot: cannot use{name}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_USAGE)
    sys.exit(EXIT_OK)
