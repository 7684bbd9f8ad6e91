"""``sss-emulate doctor``: would the server run this script? Checks with the fix for each."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sss_emulator.config import Settings
from sss_emulator.core.call import CallRequest
from sss_emulator.core.permissions import permission_for
from sss_emulator.core.runner import run_process
from sss_emulator.core.scripts import call_for_path, resolve_script
from sss_emulator.errors import EmulatorError

__all__ = ("Check", "diagnose")

_REFUSALS = ("unrecognized arguments: --auth-token", "no such option: --auth-token",
             "unknown option", "unrecognized option", "illegal option")


@dataclass(frozen=True)
class Check:
    """One finding: what was checked, whether it passed, and what to do if not."""

    title: str
    ok: bool
    detail: str
    warning: bool = False


def _locate(script: str, settings: Settings, cwd: Path) -> tuple[str, tuple[Path, ...]]:
    path = (cwd / script).absolute()
    if not settings.bin_dirs_configured:
        return path.name, (path.parent,)
    if path.is_file():
        call = call_for_path(path, settings.bin_dirs)
        return (call or script), settings.bin_dirs
    return script, settings.bin_dirs


def _shebang(path: Path) -> Check:
    with path.open("rb") as handle:
        first = handle.readline(512)
    if not first.startswith(b"#!"):
        return Check("shebang", False, "the first line is not '#!…'; add e.g. "
                     "'#!/usr/bin/env python3' so the server knows how to run it")
    if first.rstrip(b"\n").endswith(b"\r"):
        return Check("shebang", False, "the first line ends in CRLF; convert the file to "
                     "Unix line endings (e.g. dos2unix)")
    words = first[2:].decode(errors="replace").split()
    if not words:
        return Check("shebang", False, "'#!' names no interpreter")
    interpreter = words[1] if Path(words[0]).name == "env" and len(words) > 1 else words[0]
    found = shutil.which(interpreter) if "/" not in interpreter else (
        interpreter if os.access(interpreter, os.X_OK) else None)
    if not found:
        return Check("shebang", False, f"interpreter {interpreter!r} is not installed here; the "
                     "server needs it too", warning=True)
    return Check("shebang", True, first.decode(errors="replace").strip())


def _accepts_token(path: Path) -> Check:
    with tempfile.TemporaryDirectory(prefix="sss-doctor-") as tmp:
        shared = Path(tmp) / "shared"
        shared.mkdir()
        env = dict(os.environ, HOME=tmp, SHARED_DIR=str(shared))
        result = run_process([str(path), "--auth-token=doctor-check"], cwd=Path(tmp), env=env,
                             timeout=10)
    text = result.stderr.decode(errors="replace").lower()
    if any(refusal in text for refusal in _REFUSALS):
        return Check("accepts --auth-token=", False, "it rejects --auth-token=…; the server "
                     "always passes it first — add it to the argument parser "
                     "(caosadvancedtools' helper.get_argument_parser() has it)")
    if result.timed_out:
        return Check("accepts --auth-token=", True, "ran 10 s without complaining (stopped)",
                     warning=True)
    return Check("accepts --auth-token=", True,
                 f"ran with only --auth-token=… and did not reject it (exit {result.returncode})")


def diagnose(script: str, settings: Settings, cwd: Path, *, run: bool = True) -> list[Check]:
    """Every check for ``script``; the permission line is always last."""
    call, bin_dirs = _locate(script, settings, cwd)
    checks: list[Check] = []
    try:
        resolved = resolve_script(call, bin_dirs)
    except EmulatorError as error:
        checks.append(Check("found in a bin dir", False, error.message))
        checks.append(Check("permission", True, f"an admin grants {permission_for(call)}"))
        return checks
    checks.append(Check("found in a bin dir", True, f"{resolved.call} in {resolved.bin_dir}"))
    checks.append(Check("executable", True, "the executable bit is set"))
    checks.append(_shebang(resolved.path))
    if run:
        checks.append(_accepts_token(resolved.path))
    checks.append(Check("permission", True,
                        f"callers need {permission_for(CallRequest(resolved.call).call)} "
                        "(the role administration has every permission)"))
    return checks
