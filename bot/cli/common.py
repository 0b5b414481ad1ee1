"""The `smsbot` command group and what every command shares: settings, the database, exit
statuses and one-line failures."""

from __future__ import annotations

import getpass
import importlib
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from bot.config import ConfigError, Settings, load_settings
from bot.runtime import Runtime, build_runtime
from bot.store.db import Database
from bot.store.errors import where as where_database
from bot.store.migrate import SchemaBehind, ensure_schema
from bot.store.safe_text import for_terminal

#: Exit statuses of `smsbot send` (README): 0 only when the portal accepted the message.
EXIT_OK = 0
EXIT_REFUSED = 1
log = logging.getLogger("smsbot")
EXIT_USAGE = 2
EXIT_REJECTED = 3
EXIT_UNKNOWN = 4
EXIT_AWAITING = 5


class Fail(click.ClickException):
    """A one-line reason and an exit status."""

    def __init__(self, message: str, code: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.status = code


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise Fail(str(exc), EXIT_USAGE) from None


def _say_database(url: str) -> None:
    """`--verbose`: which database this command opened."""
    log.info("database: %s", where_database(url))


@contextmanager
def _database(*, upgrade_behind: bool = False) -> Iterator[Database]:
    """The database alone (commands that need no portal). A new database is created; one an
    older smsbot migrated is refused with what to run, unless `upgrade_behind`."""
    url = _settings().DATABASE_URL
    _say_database(url)
    db = Database(url, busy_seconds=_settings().SMSBOT_SQLITE_BUSY_SECONDS)
    try:
        try:
            ensure_schema(db.engine, upgrade_behind=upgrade_behind)
        except SchemaBehind as exc:
            raise Fail(str(exc), EXIT_USAGE) from None
        yield db
    finally:
        db.dispose()


@contextmanager
def _runtime(*, upgrade_behind: bool = False) -> Iterator[Runtime]:
    try:
        # logs the database it opens (--verbose)
        runtime = build_runtime(_settings(), upgrade_behind=upgrade_behind)
    except SchemaBehind as exc:
        raise Fail(str(exc), EXIT_USAGE) from None
    try:
        yield runtime
    finally:
        runtime.close()


def _operator() -> str:
    """Who ran a CLI admin command (recorded as the audit actor)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


#: Each command and the module that declares it. A command's module is imported only when that
#: command runs (or --help lists them all): `smsbot send` does not import the audit export or
#: the Slack server (issue 10: a quick CLI). tests/test_cli_lazy.py keeps this list true.
COMMAND_MODULES = {
    "approvals": "bot.cli.approvals",
    "audit": "bot.cli.audit",
    "batches": "bot.cli.batches",
    "can": "bot.cli.inventory",
    "db": "bot.cli.serve",
    "grant": "bot.cli.inventory",
    "grants": "bot.cli.inventory",
    "groups": "bot.cli.inventory",
    "jobs": "bot.cli.jobs",
    "requests": "bot.cli.views",
    "revoke": "bot.cli.inventory",
    "sandbox": "bot.cli.serve",
    "send": "bot.cli.send",
    "serve": "bot.cli.serve",
    "sims": "bot.cli.inventory",
    "status": "bot.cli.views",
    "templates": "bot.cli.templates",
    "usage": "bot.cli.usage",
    "worker": "bot.cli.jobs",
}


class LazyGroup(click.Group):
    """The `smsbot` group: commands register themselves when their module is imported, and a
    module is imported the first time one of its commands is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMAND_MODULES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            importlib.import_module(COMMAND_MODULES[cmd_name])
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log what happens to stderr.")
def cli(verbose: bool) -> None:
    """smsbot: send SMS to IoT/M2M SIMs through the operator portal, with authorization and an
    audit trail. Configuration comes from the environment (see README)."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def say(text: str, *, err: bool = False) -> None:
    """Every line the CLI prints: control characters escaped line by line, so text from data
    (labels, portal reasons, names typed by someone) cannot drive the operator's terminal."""
    click.echo("\n".join(for_terminal(line) for line in text.split("\n")), err=err)
