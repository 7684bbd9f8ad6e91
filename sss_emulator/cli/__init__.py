"""The ``sss-emulate`` command line: click only; options map onto :mod:`sss_emulator.invocation`.

``main`` is click's group (load it to run the command line in-process, e.g. with click's
``CliRunner``); it is imported when first asked for, so that the program's own start
(:mod:`sss_emulator.cli.program`) loads click only for the command lines that need it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sss_emulator.cli.commands import main

__all__ = ("main",)


def __getattr__(name: str) -> Any:
    if name == "main":
        from sss_emulator.cli.commands import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
