"""Coverage of scripts that run as subprocesses, merged into the caller's coverage data.

pytest-cov 7 no longer measures subprocesses; coverage.py itself can (``[run] patch =
subprocess``): a child started with ``COVERAGE_PROCESS_CONFIG`` in its environment starts
measuring from the ``a1_coverage.pth`` that the coverage wheel (>= 7.13) installs, and saves a
``<data_file>.<suffix>`` file at exit, which the parent's ``combine`` picks up. Two things the
emulator must add for that to work:

* the child must be *this* interpreter (``sys.executable``, which has coverage installed) rather
  than whatever ``python3`` the shebang finds on ``PATH``; the script still sees itself as
  ``sys.argv[0]`` and ``__file__``, as when exec'd;
* the configuration must be the running session's (``Coverage.current()``: pytest-cov's, also
  in an xdist worker), with absolute paths, because the script runs in a temporary directory.

:class:`CoverageRunner` does both for Python scripts and leaves every other script alone.
Without a session (``sss-emulate --coverage``) it measures into a private directory and appends
the result to the project's data file after each run (``coverage report`` shows it).
"""

from __future__ import annotations

import copy
import importlib.util
import shutil
import sys
import sysconfig
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sss_emulator.core.roots import owned_dir
from sss_emulator.devtools import is_python_script
from sss_emulator.errors import SetupError

if TYPE_CHECKING:
    from coverage import Coverage

    from sss_emulator.core.hooks import ProcessRunner
    from sss_emulator.core.runner import ProcessResult, StreamSink

__all__ = ("COVERAGE_ENV", "MISSING_MESSAGE", "CoverageRunner", "active_coverage",
           "project_runner", "session_runner", "strip_coverage_env")

#: The variables that make a new Python process start measuring (see coverage.process_startup).
COVERAGE_ENV = ("COVERAGE_PROCESS_CONFIG", "COVERAGE_PROCESS_START")

MISSING_MESSAGE = ("--coverage needs coverage.py >= 7.13: pip install 'sss-emulator[coverage]' "
                   "(or pip install coverage)")


def strip_coverage_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without the variables that would start coverage in a child (debugging)."""
    return {k: v for k, v in env.items() if k not in COVERAGE_ENV}


def active_coverage() -> Coverage | None:
    """The coverage measurement running in this process (pytest --cov), if any."""
    if "coverage" not in sys.modules:  # nobody measures: do not pay for the import
        return None
    import coverage

    current = getattr(coverage.Coverage, "current", None)
    return current() if current is not None else None


def _startup_hook_installed() -> bool:
    """Whether this interpreter starts coverage from the environment (coverage's .pth file)."""
    for key in ("purelib", "platlib"):
        if (Path(sysconfig.get_paths()[key]) / "a1_coverage.pth").is_file():
            return True
    return False


def _can_hand_over(cov: Coverage) -> bool:
    """Whether a child of this interpreter can take over ``cov``'s configuration."""
    return hasattr(cov.config, "serialize") and _startup_hook_installed()


_CANNOT = ("coverage of scripts run as subprocesses needs coverage.py >= 7.13 (its start-up "
           f"hook a1_coverage.pth) installed in {sys.prefix}: pip install 'coverage>=7.13'")


def _serialized(cov: Coverage) -> str:
    if not _can_hand_over(cov):
        raise SetupError(_CANNOT)
    # A copy with parallel on: every run saves its own <data_file>.<suffix> for combine(),
    # never over the session's own file, whatever the session's config says.
    config = copy.copy(cov.config)
    config.parallel = True
    return str(config.serialize())


class CoverageRunner:
    """A process runner that runs Python scripts with this interpreter, measured by coverage.

    Without ``merge_into`` the child saves into the running session's data (pytest --cov); with
    it, into a private folder whose data is appended to ``merge_into`` when the run ends.
    """

    def __init__(self, inner: ProcessRunner, session: Coverage | None = None,
                 merge_into: Path | None = None,
                 report: Callable[[str], None] | None = None) -> None:
        self.inner = inner
        self.session = session
        self.merge_into = merge_into
        self.report = report

    def __call__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        timeout: float | None,
        on_stdout: StreamSink | None = None,
        on_stderr: StreamSink | None = None,
        cancel: threading.Event | None = None,
    ) -> ProcessResult:
        if not is_python_script(Path(argv[0])):
            return self.inner(argv, cwd=cwd, env=env, timeout=timeout, on_stdout=on_stdout,
                              on_stderr=on_stderr, cancel=cancel)
        measured = strip_coverage_env(env)
        if self.session is not None:
            measured["COVERAGE_PROCESS_CONFIG"] = _serialized(self.session)
            return self.inner([sys.executable, *argv], cwd=cwd, env=measured, timeout=timeout,
                              on_stdout=on_stdout, on_stderr=on_stderr, cancel=cancel)
        import coverage

        # named for this process below the owned scratch root: a SIGKILLed run's data folder is
        # removed by the next start that measures coverage
        private = owned_dir("coverage")
        try:
            own = coverage.Coverage(config_file=True, data_file=str(private / ".coverage"))
            measured["COVERAGE_PROCESS_CONFIG"] = _serialized(own)
            result = self.inner([sys.executable, *argv], cwd=cwd, env=measured,
                                timeout=timeout, on_stdout=on_stdout, on_stderr=on_stderr,
                                cancel=cancel)
            self._merge(private)
            return result
        finally:
            shutil.rmtree(private, ignore_errors=True)

    def _merge(self, private: Path) -> None:
        """Append the run's data to the project's data file (``coverage combine --append``)."""
        assert self.merge_into is not None
        parts = sorted(private.glob(".coverage.*"))
        if not parts:
            self._say("coverage: the script saved no data (was it killed?)")
            return
        import coverage

        merged = coverage.Coverage(config_file=True, data_file=str(self.merge_into))
        merged.load()
        merged.combine([str(p) for p in parts], keep=False)
        merged.save()
        self._say(f"coverage: this run was added to {self.merge_into}; see it with "
                  "'coverage report -m' or 'coverage html'")

    def _say(self, line: str) -> None:
        if self.report is not None:
            self.report(line)


def session_runner(inner: ProcessRunner) -> ProcessRunner:
    """``inner``, measured into the running coverage session when there is one (pytest --cov)."""
    cov = active_coverage()
    if cov is None:
        return inner
    if not _can_hand_over(cov):  # measure what can be measured; never fail a test for it
        warnings.warn(_CANNOT + "; scripts run as subprocesses are not measured",
                      RuntimeWarning, stacklevel=2)
        return inner
    return CoverageRunner(inner, session=cov)


def project_runner(inner: ProcessRunner,
                   report: Callable[[str], None] | None = None) -> CoverageRunner:
    """For ``sss-emulate --coverage``: each run is appended to the project's data file.

    The project's coverage configuration in the current directory (``.coveragerc``,
    ``setup.cfg``, ``tox.ini`` or ``pyproject.toml``) applies, and its ``data_file`` (default
    ``.coverage``, or ``$COVERAGE_FILE``) receives the data, so ``coverage report`` shows the
    scripts' lines. One line says when coverage.py is not installed.
    """
    if importlib.util.find_spec("coverage") is None:
        raise SetupError(MISSING_MESSAGE)
    import coverage

    project = coverage.Coverage(config_file=True)
    if not _can_hand_over(project):
        raise SetupError(_CANNOT)
    data_file = Path(project.config.data_file).absolute()
    _check_data_file(data_file)
    return CoverageRunner(inner, merge_into=data_file, report=report)


def _check_data_file(data_file: Path) -> None:
    """Refuse, before the script runs, a data file that coverage cannot append to.

    A ``.coverage`` that is not coverage data (a file of the user's, a folder) would make the
    merge after the run fail; it is never replaced, so say what to do instead.
    """
    if not data_file.exists():
        return
    from coverage.data import CoverageData
    from coverage.exceptions import CoverageException

    try:
        CoverageData(basename=str(data_file)).read()
    except (CoverageException, OSError) as exc:
        raise SetupError(f"--coverage appends to {data_file}, which is not coverage data "
                         f"({exc}); move it away, or name another data file with "
                         "COVERAGE_FILE.") from None
