"""Why the kernel would not start a script, read from its first line.

A script saved on Windows (CRLF line ends) names the interpreter ``/bin/bash\\r``, which does
not exist, so exec fails with "No such file or directory"; a file without ``#!`` fails with
"Exec format error". Both messages name the wrong thing. These functions name the cause and
the fix; the emulator calls them only when starting a script failed, ``doctor`` before its
trial run.
"""

from __future__ import annotations

import errno
from pathlib import Path

__all__ = ("first_line", "line_problem", "start_failure")


def first_line(path: Path) -> bytes | None:
    """The file's first line (at most 512 bytes), or None if it cannot be read."""
    try:
        with path.open("rb") as handle:
            return handle.readline(512)
    except OSError:
        return None


def line_problem(first: bytes) -> str | None:
    """What keeps a script with this first line from being exec'd, with the fix; or None."""
    if not first.startswith(b"#!"):
        shown = first.rstrip(b"\r\n").decode(errors="replace")[:60]
        return (f"it has no '#!' line (its first line is {shown!r}), so the kernel cannot "
                "tell how to run it; add e.g. '#!/usr/bin/env python3' or '#!/bin/bash' as "
                "the first line")
    if first.rstrip(b"\n").endswith(b"\r"):
        named = first[2:].rstrip(b"\r\n").decode(errors="replace").strip()
        return (f"its lines end in CRLF (Windows), so the interpreter it names is "
                f"{named + chr(13)!r}, which does not exist; convert it to Unix line ends "
                "(dos2unix, or your editor's LF setting)")
    return None


def start_failure(path: Path, exc: OSError) -> str:
    """The one line for a script that could not be started (exec failed with ``exc``)."""
    first = first_line(path)
    problem = line_problem(first) if first is not None else None
    if problem is not None:
        return f"Cannot start {path}: {problem}."
    if exc.errno == errno.ENOEXEC:
        return (f"Cannot start {path}: {exc.strerror or exc}; the file is no program the "
                "kernel can run: give it a '#!' line.")
    return (f"Cannot start {path}: {exc.strerror or exc}; check its shebang line names an "
            "interpreter that exists.")
