"""The emulator a test gets: the core :class:`Emulator` plus run modes and a record of runs.

It is a subclass so that everything a test may know from the core API (``run``,
``run_server_side_script``, ``run_form``, ``bin_dirs``, ...) works unchanged; what it adds is
the choice of process runner per run (``mode``), the parity check of mode ``both``, and a
:class:`RunLog` that the plugin's report hook reads when the test fails.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from sss_emulator import errors as _errors
from sss_emulator.connect.mounts import MountingRunner
from sss_emulator.core.call import (
    CallRequest,
    FieldValue,
    Upload,
    request_from_form,
    request_from_pylib,
)
from sss_emulator.core.hooks import ProcessRunner
from sss_emulator.core.outcome import RunOutcome
from sss_emulator.core.runner import ProcessResult, run_process
from sss_emulator.core.scripts import resolve_script
from sss_emulator.devtools.coverage import session_runner
from sss_emulator.errors import ConfigError, EmulatorError, ScriptNotFound, ScriptTimeout
from sss_emulator.invocation import Emulator
from sss_emulator.terminal import printable

from .inprocess import is_python_script, run_inprocess
from .parity import ParityError, compare_outcomes
from .settings import parse_mode

__all__ = ("PytestEmulator", "RunLog", "run_real_process", "with_real_popen")

logger = logging.getLogger("pytest_sss_emulator.emulator")


@dataclass
class RunLog:
    """The runs of the current test, for its failure report and for ``--sss-keep``."""

    entries: list[str] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)

    def reset(self) -> None:
        self.entries.clear()
        self.kept.clear()

    def add(self, outcome: RunOutcome, mode: str) -> None:
        self.entries.append(f"[{mode}]\n{outcome.report(printable)}")
        if outcome.kept:
            self.kept.append(outcome.workdir)

    def refused(self, request: CallRequest, error: EmulatorError, mode: str) -> None:
        self.entries.append(
            f"[{mode}]\ncall:       {printable(request.call)}\nrefused:    "
            f"{type(error).__name__} (HTTP {error.http_status}): {printable(error.message)}"
        )

    def report(self) -> str:
        text = "\n\n".join(self.entries)
        if self.kept:
            text += "\n\nkept working directories:\n" + "\n".join(f"  {p}" for p in self.kept)
        return text

    def remove_kept(self) -> None:
        for path in self.kept:
            shutil.rmtree(path, ignore_errors=True)
        self.kept.clear()


#: ``subprocess.Popen`` as it was before any test could fake it (pytest-subprocess's ``fp``);
#: in a tuple because ``fp`` also replaces module-level names bound to the original.
_REAL = (subprocess.Popen,)


def with_real_popen(runner: ProcessRunner) -> ProcessRunner:
    """``runner`` with the real ``Popen``, even while ``fp`` fakes it for the test.

    ``fp`` is there to fake what a script starts, never the script itself: without this, a
    test using ``fp`` could not run any script in subprocess mode (or under the debugger).
    """

    def run(argv: Sequence[str], **kwargs: Any) -> ProcessResult:
        faked, real = subprocess.Popen, _REAL[0]
        if faked is real:
            return runner(argv, **kwargs)
        subprocess.Popen = real  # type: ignore[misc]
        try:
            return runner(argv, **kwargs)
        finally:
            subprocess.Popen = faked  # type: ignore[misc]

    return run


def run_real_process(argv: Sequence[str], **kwargs: Any) -> ProcessResult:
    """``run_process`` with the real ``Popen``, even while ``fp`` fakes it for the test."""
    return with_real_popen(run_process)(argv, **kwargs)


_WHERE_TO_ADD = ("sss_bin_dirs in the ini file, --sss-bin-dir, or "
                 "@pytest.mark.sss(bin_dirs=[...])")


def _plugin_wording(exc: ScriptNotFound, call: str, bin_dirs: Sequence[Path]) -> ScriptNotFound:
    """The core's advice names the CLI's ``--bin-dir``; a test wants the plugin's settings."""
    if not bin_dirs:
        return ScriptNotFound(f"Script {call!r} not found: no bin dirs are configured; set "
                              f"{_WHERE_TO_ADD}.")
    if exc.message.endswith("--bin-dir."):
        searched = ", ".join(str(b) for b in bin_dirs)
        return ScriptNotFound(f"Script {call!r} not found in the bin dirs {searched}; check the "
                              f"name or add its folder with {_WHERE_TO_ADD}.")
    return exc


class PytestEmulator(Emulator):
    """An :class:`Emulator` that runs scripts in ``mode`` and records each run.

    ``mode`` is ``"subprocess"`` (the server's way), ``"inprocess"`` (Python scripts run via
    ``runpy`` inside the test process) or ``"both"`` (both, then :class:`ParityError` if code,
    stdout, stderr or shared files differ; the subprocess outcome is returned). A script without
    a Python shebang can only run as a subprocess, and does so in every mode (the report says
    ``[subprocess]``), so one mode can be set for a repository of mixed scripts. Errors are
    reachable as ``sss.errors.PermissionDenied`` etc., so tests need no import.

    Unlike the core emulator, a run that times out raises ``ScriptTimeout`` (its outcome as
    ``.outcome``): a hanging script must fail its test even if the test checks nothing.
    """

    errors: ModuleType = _errors
    ParityError = ParityError

    def __init__(self, *args: Any, mode: str = "subprocess", log: RunLog | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mode = parse_mode(mode, "PytestEmulator(mode=...)")
        self.log = log if log is not None else RunLog()
        #: Set by ``debug_wait``: runs go to the debugger (and wait for it) in every mode.
        self.debug_runner: ProcessRunner | None = None
        #: Every outcome of this emulator, oldest first (both of a ``both`` run).
        self.outcomes: list[RunOutcome] = []

    @property
    def last(self) -> RunOutcome | None:
        """The latest outcome, or ``None`` before the first run."""
        return self.outcomes[-1] if self.outcomes else None

    def run_server_side_script(
        self,
        call: str,
        *args: object,
        files: Mapping[str, str | os.PathLike[str]] | None = None,
        **kwargs: object,
    ) -> RunOutcome:
        """Run ``call`` as pylib's ``run_server_side_script`` would have the server run it."""
        __tracebackhide__ = True
        try:
            request = request_from_pylib(
                call, args, {k: Path(v) for k, v in (files or {}).items()}, kwargs
            )
        except EmulatorError as exc:
            raise exc.with_traceback(None) from None
        return self.run(request)

    def run_form(
        self, fields: Iterable[tuple[str, FieldValue]], files: Iterable[tuple[str, Upload]] = ()
    ) -> RunOutcome:
        """Run the raw form fields of a ``POST /scripting``."""
        __tracebackhide__ = True
        try:
            request = request_from_form(fields, files)
        except EmulatorError as exc:
            raise exc.with_traceback(None) from None
        return self.run(request)

    def run(self, request: CallRequest, **kwargs: Any) -> RunOutcome:
        """Run ``request`` in this emulator's mode (see the class docstring)."""
        __tracebackhide__ = True
        mode = self.mode if self._is_python(request.call) else "subprocess"
        if self.debug_runner is not None:
            mode = "subprocess"  # a debugger attaches to the script's own process
        try:
            if mode == "both":
                server_way = self._run_as(request, "subprocess", kwargs)
                in_process = self._run_as(request, "inprocess", kwargs)
                difference = compare_outcomes(server_way, in_process)
                if difference is not None:
                    raise ParityError(difference)
                outcome = server_way
            else:
                outcome = self._run_as(request, mode, kwargs)
            if outcome.timed_out and outcome.error is not None:
                outcome.error.outcome = outcome  # type: ignore[attr-defined]
                raise outcome.error
            return outcome
        except ScriptTimeout as exc:
            raise exc.with_traceback(None) from None
        except EmulatorError as exc:
            if isinstance(exc, ScriptNotFound):
                exc = _plugin_wording(exc, request.call, self.bin_dirs)
            self.log.refused(request, exc, mode)
            raise exc.with_traceback(None) from None

    def _is_python(self, call: str) -> bool:
        """Whether ``call`` can run in-process; other scripts always run as a subprocess."""
        try:
            return is_python_script(resolve_script(call, self.bin_dirs).path)
        except EmulatorError:
            return True  # the run itself reports the problem, in the mode asked for

    def _run_as(self, request: CallRequest, mode: str, kwargs: dict[str, Any]) -> RunOutcome:
        saved = self.runner
        mounting = saved if isinstance(saved, MountingRunner) else None
        if mounting is not None and (mode == "inprocess" or self.debug_runner is not None):
            raise ConfigError("mounts=True needs mode='subprocess' and no debug_wait: a script "
                              "run inside the test process or under the debugger cannot get a "
                              "mount namespace of its own.")
        if mode == "inprocess":
            self.runner = run_inprocess
        elif self.debug_runner is not None:
            self.runner = with_real_popen(self.debug_runner)
        else:  # measured into pytest --cov's data when coverage runs (docs/testing.md)
            real = run_real_process if mounting is None else mounting.around(run_real_process)
            self.runner = session_runner(real)
        try:
            outcome = super().run(request, **kwargs)
        finally:
            self.runner = saved
        self.outcomes.append(outcome)
        self.log.add(outcome, mode)
        return outcome
