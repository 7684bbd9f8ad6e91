"""``python -m sss_emulator`` is ``sss-emulate``."""

from .cli import main

main()
