"""``sss-emulate doctor``: would the server run this script? Checks with evidence and a fix.

Every check ends ``ok``, ``warn`` or ``fail`` with the evidence it saw (the shebang line, the
exit code, the last line of stderr) — never a traceback, and never "ok" for a script that only
ran because something else failed first: a script that cannot be exec'd (no shebang, a missing
interpreter: exit 127), dies of ``ModuleNotFoundError`` or is refused by its own argument
parser (exit 2) has not shown that it accepts ``--auth-token=``.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sss_emulator.cli.hints import refused_token
from sss_emulator.config import Settings
from sss_emulator.core.call import CallRequest, request_from_form
from sss_emulator.core.hooks import ProcessRunner
from sss_emulator.core.permissions import permission_for
from sss_emulator.core.printed_tokens import TOKEN, redact_printed_tokens
from sss_emulator.core.roots import owned_scratch
from sss_emulator.core.runner import ProcessResult
from sss_emulator.core.scripts import call_for_path, resolve_script
from sss_emulator.errors import EmulatorError, ScriptNotExecutable, SetupError
from sss_emulator.invocation.script_args import parse_script_args

__all__ = ("SCHEMA", "STATUSES", "Check", "diagnose", "report_document")

#: The ``schema`` of ``doctor --format json``; keys of the document and of each check are stable.
SCHEMA = "sss-emulator/doctor/v1"
STATUSES = ("ok", "warn", "fail")
#: Seconds the trial run may take before it is stopped (a script that waits is not wrong).
TRIAL_TIMEOUT_S = 10.0

_MISSING_MODULE = re.compile(r"^(ModuleNotFoundError|ImportError): (.*)$", re.M)
_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception)): ?(.*)$", re.M)


@dataclass(frozen=True)
class Check:
    """One finding: what was checked, its status, what it means, and what was seen."""

    id: str
    title: str
    status: str
    detail: str
    evidence: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def warning(self) -> bool:
        return self.status == "warn"


def _locate(script: str, settings: Settings, cwd: Path) -> tuple[str, tuple[Path, ...], Path]:
    path = (cwd / script).absolute()
    if not settings.bin_dirs_configured:
        return path.name, (path.parent,), path
    if path.is_file():
        call = call_for_path(path, settings.bin_dirs)
        return (call or script), settings.bin_dirs, path
    return script, settings.bin_dirs, path


def _last_line(data: bytes) -> str:
    lines = [line for line in data.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else ""


def _shebang(path: Path) -> tuple[Check, bool]:
    """The shebang check, and whether the script can be exec'd at all."""
    try:
        with path.open("rb") as handle:
            first = handle.readline(512)
    except OSError as exc:
        return Check("shebang", "shebang", "fail", f"cannot read the file: {exc.strerror}"), False
    shown = first.rstrip(b"\r\n").decode(errors="replace")[:200]
    raw_line = first.rstrip(b"\n").decode(errors="replace")[:200]
    if not first.startswith(b"#!"):
        return Check("shebang", "shebang", "fail",
                     "the first line is not '#!…', so exec fails (Exec format error); add e.g. "
                     "'#!/usr/bin/env python3' so the server knows how to run it",
                     f"first line: {shown!r}"), False
    if first.rstrip(b"\n").endswith(b"\r"):
        return Check("shebang", "shebang", "fail",
                     "the first line ends in CRLF, so the interpreter name ends in '\\r'; "
                     "convert the file to Unix line endings (e.g. dos2unix)",
                     f"first line: {raw_line!r}"), False
    words = first[2:].decode(errors="replace").split()
    if not words:
        return Check("shebang", "shebang", "fail", "'#!' names no interpreter",
                     f"first line: {shown!r}"), False
    env_style = Path(words[0]).name == "env"
    interpreter = words[1] if env_style and len(words) > 1 else words[0]
    found = shutil.which(interpreter) if "/" not in interpreter else (
        interpreter if os.path.isfile(interpreter) and os.access(interpreter, os.X_OK)
        else None)
    if env_style and not os.access(words[0], os.X_OK):
        found = None
        interpreter = words[0]
    if not found:
        return Check("shebang", "shebang", "fail",
                     f"interpreter {interpreter!r} is not installed here, so exec fails (the "
                     "server needs it too); install it or fix the shebang",
                     f"first line: {shown!r}"), False
    return Check("shebang", "shebang", "ok", f"runs with {found}", f"first line: {shown!r}"), True


#: The control run's first argument instead of the token: an option no script can know.
PROBE_WORD = "--sss-doctor-no-such-option=doctor-check"


@dataclass(frozen=True)
class Trial:
    """One run of the script: what it did, and what it said (with its first argument and its
    folder replaced by placeholders, so two trials compare)."""

    result: ProcessResult
    said: str


class _FirstWord:
    """A runner that starts the script with ``first`` in place of its token (the control run)
    and notes the first argument and folder the run had, to blank them in what it said."""

    def __init__(self, inner: ProcessRunner, first: str | None) -> None:
        self.inner = inner
        self.first = first
        self.seen_first = ""
        self.seen_cwd = ""

    def __call__(self, argv: Sequence[str], **kwargs: Any) -> ProcessResult:
        words = list(argv)
        if self.first is not None and len(words) > 1:
            words[1] = self.first
        self.seen_first = words[1] if len(words) > 1 else ""
        self.seen_cwd = str(kwargs.get("cwd", ""))
        return self.inner(words, **kwargs)


def _trial(path: Path, settings: Settings, request: CallRequest,
           first: str | None = None) -> Trial | OSError:
    """Run the script once, as any run: through the emulator with the LinkAhead stand-in.

    So the trial gets what every run gets and nothing else: a scrubbed environment (no
    ``SSS_PASSWORD``, no production ``PYLINKAHEADINI``), a HOME whose ini points at the
    stand-in, the stand-in's ``sendmail`` (the real one is never run) and a real token first
    (``first`` replaces it for the control run). Its folders are below a scratch folder named
    for this process, so what a SIGKILLed doctor left is swept by the next start; TERM and HUP
    unwind through here (``doctor``'s command turns them into an interrupt), stopping the
    script and removing the folder.
    """
    from sss_emulator.invocation import Emulator

    with owned_scratch("doctor") as tmp:
        emulator = Emulator.from_settings(settings, bin_dirs=(path.parent,),
                                          timeout=TRIAL_TIMEOUT_S, work_root=tmp / "work",
                                          shared_root=tmp / "shared")
        runner = _FirstWord(emulator.runner, first)
        emulator.runner = runner
        with emulator:
            try:
                outcome = emulator.run(request)
            except SetupError as error:  # exec failed: the cause says why
                if isinstance(error.__cause__, OSError):
                    return error.__cause__
                raise
    result = ProcessResult(returncode=outcome.code, stdout=outcome.stdout_bytes,
                           stderr=outcome.stderr_bytes, duration_s=outcome.duration_s,
                           timed_out=outcome.timed_out)
    said = (result.stdout + b"\n" + result.stderr).decode(errors="replace")
    for value, placeholder in ((runner.seen_cwd, "<HOME>"), (runner.seen_first, "<FIRST>")):
        if value:
            said = said.replace(value, placeholder)
    # the token printed in another form (JSON-escaped, quoted, as a list) is named too
    said = redact_printed_tokens(said).replace(TOKEN, "<FIRST>")
    return Trial(result, said)


def _refused(stderr: str) -> bool:
    return refused_token(stderr.encode()) is not None


def _token_check(path: Path, shown: str, settings: Settings, request: CallRequest) -> Check:
    """Run the script with ``--auth-token=…`` first (as the server does) and judge what it did.

    Only what was seen working is ok: exit 0, or an unknown option refused where
    ``--auth-token=`` was not (a control run). A script that answers both alike (it asks for a
    required argument, or fails at work it does before reading its options) cannot be judged
    from here: doctor says so, and how to find out.
    """
    title = "accepts --auth-token="
    arguments = request.user_arguments()
    trial = _trial(path, settings, request)
    if isinstance(trial, OSError):
        why = os.strerror(trial.errno) if trial.errno else str(trial)
        fix = ("add a shebang line" if trial.errno == errno.ENOEXEC
               else "check the shebang's interpreter exists")
        return Check("auth_token", title, "fail", f"the script could not be started; {fix}",
                     f"exec failed: {why}")
    result = trial.result
    stderr = result.stderr.decode(errors="replace")
    last = _last_line(result.stderr) or _last_line(result.stdout)
    evidence = f"exit {result.returncode}" + (f"; stderr: {last}" if last else "")
    with_args = " with those arguments" if arguments else ""
    find_out = (f"to find out, give it the arguments it needs: sss-emulate doctor {shown} "
                "-p0 VALUE -Oname=VALUE …" if not arguments else
                f"to find out, run it as the server does: sss-emulate {shown} … and look for "
                "'--auth-token' in what it says")
    if result.timed_out:
        return Check("auth_token", title, "warn",
                     f"cannot tell: still running after {TRIAL_TIMEOUT_S:g} s (stopped) before "
                     f"it showed whether it reads the option; {find_out}",
                     "timed out" + (f"; stderr: {last}" if last else ""))
    if _refused(stderr):
        return Check("auth_token", title, "fail",
                     "it rejects --auth-token=…; the server always passes it first — add it to "
                     "the argument parser (caosadvancedtools' helper.get_argument_parser() has "
                     "it)", evidence)
    if result.returncode == 127:
        return Check("auth_token", title, "fail",
                     "exit 127: a command or the interpreter was not found, so nothing shows it "
                     "accepts the option; install what is missing", evidence)
    if result.returncode == 126:
        return Check("auth_token", title, "fail",
                     "exit 126: something it runs is not executable", evidence)
    missing = _MISSING_MODULE.search(stderr)
    if missing:
        return Check("auth_token", title, "fail",
                     f"it dies of {missing.group(1)} before reading its arguments; install the "
                     "package here (and on the server)", f"exit {result.returncode}; "
                     f"{missing.group(0).strip()}")
    if result.returncode == 0:
        return Check("auth_token", title, "ok",
                     f"ran with --auth-token=… first{with_args} and exited 0", evidence)
    return _judge_by_control(path, settings, request, trial, evidence, find_out)


def _judge_by_control(path: Path, settings: Settings, request: CallRequest, trial: Trial,
                      evidence: str, find_out: str) -> Check:
    """The trial failed without naming the option: run it again with an option it cannot
    know in its place, and compare."""
    title = "accepts --auth-token="
    control = _trial(path, settings, request, PROBE_WORD)
    if isinstance(control, OSError) or control.result.timed_out:
        return Check("auth_token", title, "warn",
                     f"cannot tell: it exited {trial.result.returncode} with --auth-token=… "
                     f"first; {find_out}", evidence)
    same_exit = control.result.returncode == trial.result.returncode
    control_stderr = control.result.stderr.decode(errors="replace").lower()
    control_named = "<FIRST>" in control.said or "--sss-doctor-no-such-option" in control_stderr
    trial_named = "<FIRST>" in trial.said or "--auth-token" in trial.said.lower()
    if same_exit and trial_named and control_named:
        # named both and exited alike: what else differs (a time, a path) says nothing
        return Check("auth_token", title, "fail",
                     "it answers --auth-token=… as an option it cannot know (it names it and "
                     "exits alike), so it rejects it; the server always passes it first "
                     "— handle it in the script's argument parsing", evidence)
    if same_exit and control.said == trial.said:
        crash = _EXCEPTION.search(trial.result.stderr.decode(errors="replace"))
        what = f"crashed with {crash.group(1)}" if crash else (
            f"exited {trial.result.returncode}")
        return Check("auth_token", title, "warn",
                     f"cannot tell: it {what} both with --auth-token=… and with an option it "
                     "cannot know, so it stopped before reading its options (a required "
                     f"argument, or work it does first); {find_out}", evidence)
    if control.result.returncode != 0 and control_named and not trial_named:
        return Check("auth_token", title, "ok",
                     "it refused an unknown option in its place but not --auth-token=…, so its "
                     "parser reads it (it then stopped for another reason, see below)", evidence)
    return Check("auth_token", title, "warn",
                 "cannot tell: it did not reject --auth-token=… and answered an unknown option "
                 f"differently, but no run showed it working; {find_out}", evidence)


def _permission(call: str) -> Check:
    return Check("permission", "permission", "ok",
                 f"callers need {permission_for(CallRequest(call).call)} (the role "
                 "administration has every permission)")


def _found(script: str, settings: Settings, cwd: Path) -> tuple[list[Check], Path | None, str]:
    call, bin_dirs, path = _locate(script, settings, cwd)
    try:
        resolved = resolve_script(call, bin_dirs)
    except ScriptNotExecutable:
        candidate = next((b / call for b in bin_dirs if (b / call).is_file()), path)
        mode = stat.filemode(candidate.stat().st_mode)
        return [Check("found", "found in a bin dir", "ok", f"{call} in {candidate.parent}"),
                Check("executable", "executable", "fail",
                      f"the server cannot exec it; run 'chmod +x {candidate}'",
                      f"mode {mode}")], candidate, call
    except EmulatorError as error:
        return [Check("found", "found in a bin dir", "fail", error.message)], None, call
    mode = stat.filemode(resolved.path.stat().st_mode)
    return [Check("found", "found in a bin dir", "ok", f"{resolved.call} in {resolved.bin_dir}"),
            Check("executable", "executable", "ok", "the executable bit is set",
                  f"mode {mode}")], resolved.path, resolved.call


def diagnose(script: str, settings: Settings, cwd: Path, *, run: bool = True,
             arguments: Sequence[str] = ()) -> list[Check]:
    """Every check for ``script``; the permission line is always last.

    ``arguments`` are the script's (``-p0 VALUE``, ``-Oname=VALUE``, ``@file``), passed after
    ``--auth-token=…`` in the trial run as the server would pass them.
    """
    fields: list[tuple[str, Any]] = []
    if arguments:  # a mistake here is a bad command line, refused before any check
        fields = parse_script_args(arguments, cwd)
        request_from_form([("call", "doctor"), *fields])
    checks, path, call = _found(script, settings, cwd)
    if path is None:
        return [*checks, _permission(call)]
    shebang, runnable = _shebang(path)
    checks.append(shebang)
    executable = checks[-2].ok
    if not run:
        checks.append(Check("auth_token", "accepts --auth-token=", "warn",
                            "not checked (--no-run)"))
    elif not executable or not runnable:
        checks.append(Check("auth_token", "accepts --auth-token=", "fail",
                            "not run: the server could not start it either (see above)"))
    else:
        request = request_from_form([("call", path.name), *fields])
        checks.append(_token_check(path, script, settings, request))
    return [*checks, _permission(call)]


def report_document(script: str, checks: list[Check]) -> dict[str, Any]:
    """The ``--format json`` document: ``schema``, ``script``, ``status``, ``checks``."""
    worst = "fail" if any(c.status == "fail" for c in checks) else (
        "warn" if any(c.status == "warn" for c in checks) else "ok")
    return {"schema": SCHEMA, "script": script, "status": worst,
            "checks": [asdict(c) for c in checks]}
