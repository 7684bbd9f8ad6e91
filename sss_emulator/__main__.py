"""``python -m sss_emulator`` is ``sss-emulate``."""

from sss_emulator.cli.program import main

main()
