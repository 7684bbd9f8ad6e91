"""The ``sss-emulate`` command line: click only; options map onto :mod:`sss_emulator.invocation`."""

from sss_emulator.cli.commands import main

__all__ = ("main",)
