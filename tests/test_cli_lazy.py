"""The CLI imports a command's module only when that command runs (issue 10: a quick CLI), and
the name → module list it does that with stays complete."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import click

import bot.cli
from bot.cli.common import COMMAND_MODULES, cli


def test_every_command_is_listed_with_the_module_that_declares_it() -> None:
    for info in pkgutil.iter_modules(bot.cli.__path__):
        importlib.import_module(f"bot.cli.{info.name}")
    declared = {
        name: command.callback.__module__
        for name, command in cli.commands.items()
        if command.callback is not None
    }
    assert declared == COMMAND_MODULES


def test_help_lists_every_command() -> None:
    with click.Context(cli) as ctx:
        names = cli.list_commands(ctx)
        assert names == sorted(COMMAND_MODULES)
        assert all(cli.get_command(ctx, name) is not None for name in names)


def test_running_send_imports_no_other_command_module() -> None:
    program = (
        "import sys, click\n"
        "from bot.cli.common import cli\n"
        "with click.Context(cli) as ctx:\n"
        "    assert cli.get_command(ctx, 'send') is not None\n"
        "print(sorted(m for m in sys.modules if m.startswith('bot.cli.')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    # bot.cli.batches: `send --group` is a fleet send.
    assert out.strip() == "['bot.cli.batches', 'bot.cli.common', 'bot.cli.send']"
