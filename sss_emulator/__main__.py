"""``python -m sss_emulator`` is ``sss-emulate``."""

from sss_emulator.cli.commands import main

main()
