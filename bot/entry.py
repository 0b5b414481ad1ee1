"""The `smsbot` executable: import the command line with the garbage collector paused.

Importing SQLAlchemy, the models and the rest builds tens of thousands of objects that live as
long as the process, and the collector walked them again and again while they were being built:
pausing it cut the CLI's import time by about a sixth (issue 10: a quick CLI). `gc.freeze()`
then keeps them out of every later collection, which also spares a long-running `serve`.
"""

from __future__ import annotations

import gc
from typing import NoReturn


def main() -> NoReturn:
    gc.disable()
    try:
        from bot.cli import main as cli_main
    finally:
        gc.freeze()
        gc.enable()
    cli_main()
