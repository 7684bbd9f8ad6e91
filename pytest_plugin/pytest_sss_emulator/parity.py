"""Comparing a subprocess run with an in-process run of the same call (mode ``both``).

Two runs never share their directories or token, so those are replaced by placeholders
before comparing; anything else that differs is a real difference between the modes and is
shown as a unified diff.
"""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path

from sss_emulator.core.outcome import RunOutcome

__all__ = ("ParityError", "compare_outcomes", "normalise")


class ParityError(AssertionError):
    """The subprocess and in-process runs of one call differ (mode ``both``).

    An ``AssertionError``, so pytest reports it as a failed test with the diff as message.
    """


def normalise(text: str, outcome: RunOutcome) -> str:
    """``text`` with the run's own paths, SHARED_DIR name and token made neutral."""
    replacements = [
        (str(outcome.shared_dir), "<SHARED_DIR>"),
        (str(outcome.workdir), "<WORKDIR>"),
        (outcome.shared_dir.name, "<SHARED_NAME>"),
    ]
    if outcome.token:
        replacements.append((outcome.token, "<TOKEN>"))
    for old, new in replacements:
        text = text.replace(old, new)
    return text


def _diff(name: str, left: str, right: str, labels: tuple[str, str]) -> list[str]:
    if left == right:
        return []
    lines = difflib.unified_diff(
        left.splitlines(keepends=True), right.splitlines(keepends=True),
        fromfile=f"{name} ({labels[0]})", tofile=f"{name} ({labels[1]})",
    )
    return [line.rstrip("\n") for line in lines]


def _file_text(path: Path, outcome: RunOutcome) -> str:
    data = path.read_bytes()
    try:
        return normalise(data.decode("utf-8"), outcome)
    except UnicodeDecodeError:
        return f"<{len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}>"


def compare_outcomes(
    left: RunOutcome, right: RunOutcome, labels: tuple[str, str] = ("subprocess", "inprocess")
) -> str | None:
    """A readable account of every difference between two runs, or ``None`` if they agree."""
    problems: list[str] = []
    if (left.code, left.timed_out) != (right.code, right.timed_out):
        def state(o: RunOutcome) -> str:
            return "timed out" if o.timed_out else f"code {o.code}"
        problems.append(f"exit: {state(left)} ({labels[0]}) != {state(right)} ({labels[1]})")
    for stream in ("stdout", "stderr"):
        problems += _diff(stream, normalise(getattr(left, f"{stream}_text"), left),
                          normalise(getattr(right, f"{stream}_text"), right), labels)
    left_files, right_files = left.shared_files, right.shared_files
    for name in sorted(set(left_files) ^ set(right_files)):
        side = labels[0] if name in left_files else labels[1]
        problems.append(f"shared file {name!r} exists only in the {side} run")
    for name in sorted(set(left_files) & set(right_files)):
        problems += _diff(f"shared file {name}", _file_text(left_files[name], left),
                          _file_text(right_files[name], right), labels)
    if not problems:
        return None
    header = f"the {labels[0]} and {labels[1]} runs of {left.call!r} differ:"
    return "\n".join([header, *problems])
