"""Finding the script a ``call`` names, the way the server looks through its bin dirs."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sss_emulator.errors import ScriptNotExecutable, ScriptNotFound

__all__ = ("ResolvedScript", "call_for_path", "iter_scripts", "resolve_script")


@dataclass(frozen=True)
class ResolvedScript:
    """A call that names an existing, executable script."""

    call: str
    path: Path  # absolute; a symlink stays a symlink (argv[0] is the path in the bin dir)
    bin_dir: Path


#: Longest call accepted: Linux's PATH_MAX, and NAME_MAX for each of its names. Longer ones
#: would fail in the file system (ENAMETOOLONG) and are refused before they reach it.
MAX_CALL_BYTES = 4096
MAX_NAME_BYTES = 255


def _normalised_call(call: str) -> PurePosixPath | None:
    """The call as a relative path inside a bin dir, or ``None`` when it is no plain path.

    A call is taken literally: ``.``, ``..`` and empty segments are refused rather than
    normalised, so that the permission checked (``SCRIPTING:EXECUTE:<call>``) is always the
    permission of exactly the script that runs (``ok.sh/../other.sh`` must not pass as
    ``ok.sh``).
    """
    if not call or "\x00" in call or call.startswith("/") or "\\" in call:
        return None
    if len(call.encode("utf-8", "surrogatepass")) > MAX_CALL_BYTES:
        return None
    parts = call.split("/")
    for part in parts:
        if part in ("", ".", "..") or len(part.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
            return None
    return PurePosixPath(*parts)


def resolve_script(call: str, bin_dirs: Sequence[Path]) -> ResolvedScript:
    """Look ``call`` up in each bin dir in order (contract §2).

    A call that is absolute, contains ``.``, ``..`` or empty segments, or is too long for a
    path is not found, like any missing script. A symlink inside a bin dir pointing to an
    executable elsewhere is a valid script.
    """
    candidates = _candidates(call, bin_dirs)
    if candidates is None:
        shown = call if len(call) <= 80 else call[:77] + "..."
        raise ScriptNotFound(
            f"Script {shown!r} not found: a call is a path relative to a bin dir: no leading "
            "'/', no '.', '..' or empty segments, at most 255 bytes per name and 4096 in all."
        )
    for base, candidate, in_base in candidates:
        # A folder inside the bin dir that is itself a symlink to elsewhere would let
        # a call escape; only the final component may be a link.
        try:
            if not in_base and not _parent_inside(candidate, base):
                continue
            if not stat.S_ISREG(os.stat(candidate).st_mode):
                continue
        except OSError:  # missing, or e.g. the bin dir's path plus the call exceeds PATH_MAX
            continue
        if not os.access(candidate, os.X_OK):
            raise ScriptNotExecutable(
                f"Script {call!r} ({candidate}) is not executable; run "
                f"'chmod +x {candidate}' so the server user may execute it."
            )
        return ResolvedScript(call=call, path=candidate, bin_dir=base)
    searched = ", ".join(str(b) for b in bin_dirs) or "(no bin dirs configured)"
    raise ScriptNotFound(
        f"Script {call!r} not found in the bin dirs {searched}; check the name or add its "
        "folder with --bin-dir."
    )


_Candidates = tuple[tuple[Path, Path, bool], ...]
#: What :func:`_candidates` worked out, by call, bin dirs and working directory.
_CANDIDATES: dict[tuple[str, tuple[Path, ...], str], _Candidates | None] = {}
_CANDIDATES_KEPT = 256


def _candidates(call: str, bin_dirs: Sequence[Path]) -> _Candidates | None:
    """For each bin dir: its absolute path, the call's path in it and whether that lies
    directly in it; None when the call is no plain path. Pure path work, done once per call
    (the file system is asked on every lookup)."""
    key = (call, tuple(bin_dirs), os.getcwd())
    if key in _CANDIDATES:
        return _CANDIDATES[key]
    relative = _normalised_call(call)
    found: _Candidates | None = None
    if relative is not None:
        bases = [bin_dir.absolute() for bin_dir in bin_dirs]
        found = tuple((base, base / relative, len(relative.parts) == 1) for base in bases)
    if len(_CANDIDATES) >= _CANDIDATES_KEPT:
        _CANDIDATES.clear()
    _CANDIDATES[key] = found
    return found


def _parent_inside(candidate: Path, base: Path) -> bool:
    if candidate.parent == base:  # a call without folders cannot climb out through a link
        return True
    try:
        candidate.parent.resolve().relative_to(base.resolve())
    except ValueError:
        return False
    return True


def call_for_path(path: Path, bin_dirs: Sequence[Path]) -> str | None:
    """The call of a file given as a path, if it lies inside one of ``bin_dirs``."""
    absolute = Path(os.path.abspath(path))
    for bin_dir in bin_dirs:
        base = Path(os.path.abspath(bin_dir))
        try:
            relative = absolute.relative_to(base)
        except ValueError:
            continue
        return relative.as_posix()
    return None


def iter_scripts(bin_dirs: Sequence[Path]) -> Iterator[ResolvedScript | tuple[str, Path]]:
    """Every file in the bin dirs: a ``ResolvedScript`` if runnable, else ``(call, path)``.

    A call found in an earlier bin dir hides the same call in a later one, as in the lookup.
    """
    seen: set[str] = set()
    for bin_dir in bin_dirs:
        base = bin_dir.absolute()
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if not path.is_file() or any(p.startswith(".") for p in path.relative_to(base).parts):
                continue
            if "__pycache__" in path.parts or path.name.endswith(".form.json"):
                continue  # a .form.json beside a script configures its web form
            call = path.relative_to(base).as_posix()
            if call in seen:
                continue
            seen.add(call)
            if os.access(path, os.X_OK):
                yield ResolvedScript(call=call, path=path, bin_dir=base)
            else:
                yield call, path
