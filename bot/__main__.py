"""`python -m bot`: the same as the `smsbot` executable."""

from bot.entry import main

main()
