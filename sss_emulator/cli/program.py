"""``sss-emulate`` as a program: the console script and ``python -m sss_emulator`` start here.

Most command lines are one script and its arguments (``sss-emulate SCRIPT -p0 VALUE
-Oname=VALUE``), perhaps with ``--bin-dir``, ``--home``, ``--profile``, ``--format``,
``--timeout`` or ``--keep``. For those, click would do nothing but build :class:`RunInvocation`,
so :func:`plain_run` builds it without importing click (about a quarter of a run's start-up);
any other command line goes to click as before (:mod:`sss_emulator.cli.commands`).
``tests/core/test_cli_program.py`` checks that both read every plain command line alike.

The program ends with :func:`end_program`: what the interpreter does on exit (wait for threads,
``atexit``, flush), without tearing down every module and object. This module is never used by
``sss_emulator.cli.main`` (click's group, which tests and tools call in-process).
"""

from __future__ import annotations

import atexit
import errno
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from sss_emulator.invocation import RunInvocation

__all__ = ("COMMANDS", "end_program", "main", "plain_run")

#: The commands of ``sss-emulate``; a first word that is none of these is a script (``run``).
COMMANDS = ("run", "list", "doctor", "serve", "watch", "compare", "record", "replay", "pull")
def plain_run(argv: Sequence[str], environ: Mapping[str, str]) -> RunInvocation | None:
    """``[OPTION]... SCRIPT [-pN VALUE | -O… | VALUE | OPTION]...`` as click's ``run`` reads it,
    with only the common options of ours (``cli.words.PLAIN_OPTIONS``). None for every other
    command line (click decides, and says what is wrong), and when the shell asks click to
    complete a word (``_SSS_EMULATE_COMPLETE``)."""
    if not argv or argv[0] in COMMANDS:
        return None
    if any(name.startswith("_") and name.endswith("_COMPLETE") for name in environ):
        return None
    from sss_emulator.cli.words import read_plain_line

    read = read_plain_line(argv)
    if read is None:
        return None
    script, script_args, options = read
    if "timeout" in options:  # click checks it with the settings' parser, and names the option
        from sss_emulator.config import SETTINGS

        try:
            SETTINGS["timeout"].parse(options["timeout"])
        except ValueError:
            return None
    from sss_emulator.invocation import RunInvocation

    return RunInvocation(script=script, script_args=script_args, options=options)


def main() -> NoReturn:
    """``sss-emulate``: a plain run without click, everything else with it."""
    invocation = plain_run(sys.argv[1:], os.environ)
    if invocation is None:
        from sss_emulator.cli.commands import main as command_line

        command_line()  # click ends the program itself (SystemExit), with its own exit
        raise AssertionError("unreachable")
    from sss_emulator.core.reaper import become_subreaper

    become_subreaper()  # as the group does for the program itself (see commands)
    end_program(_run(invocation))


def _run(invocation: RunInvocation) -> int:
    """What click's group and ``run`` command do around :func:`execute` for such a line."""
    from sss_emulator.cli.execute import configure_logging, execute

    try:
        configure_logging(False)
        return execute(invocation, debug=False)
    except (EOFError, KeyboardInterrupt):
        print(file=sys.stderr)
        print("Aborted!", file=sys.stderr)
        return 1
    except OSError as exc:  # click: a closed pipe (``| head``) ends the program quietly
        if exc.errno != errno.EPIPE:
            raise
        _quiet_closed_pipes()
        return 1


def _quiet_closed_pipes() -> None:
    """Send what is still buffered for a closed stdout/stderr nowhere (as click does)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            os.dup2(devnull, stream.fileno())
    os.close(devnull)


def end_program(code: int) -> NoReturn:
    """Exit with ``code`` as the interpreter would, minus its teardown (about 10 ms).

    Only once the program's work is done: non-daemon threads are waited for (by a normal exit,
    if there are any), the ``atexit`` functions run (they wait for the removal of the run's
    directory, save coverage data, flush logging), stdout and stderr are flushed. Should a
    flush fail, the interpreter's own exit reports it as it always did.
    """
    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon and t.is_alive()
           for t in threading.enumerate()):
        sys.exit(code)
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        sys.exit(code)
    os._exit(code)
