"""`python -m bot` is `smsbot`."""

from bot.cli import main

main()
