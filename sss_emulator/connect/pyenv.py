"""Which interpreter a pyenv shim starts, worked out as pyenv works it out, without running it.

A shim (``$PYENV_ROOT/shims/python3``) is a shell script that asks ``pyenv exec`` for the
version in force and starts that version's program: ``PYENV_VERSION``, else the first
``.python-version`` file from ``PYENV_DIR`` or the working directory upwards, else
``$PYENV_ROOT/version``; each may name several versions (``3.12:3.11``), the first that has the
program wins, then the system's (the ``PATH`` without the shims). Starting the shim to find out
costs more than a whole run (bash, ``pyenv``, then Python), so this reads the same files instead
(``libexec/pyenv-version-file``, ``-version-file-read``, ``-version-name``, ``-latest``,
``-which``).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping

__all__ = ("file_stamp", "pyenv_root", "resolve_shim")

#: A shim's lines: the root it was written for, then its hand-over to ``pyenv exec``.
_ROOT_LINE = re.compile(
    rb'^export PYENV_ROOT="([^"\n]+)"\n(?:.*\n)*?exec "[^"\n]+" exec "\$program" ', re.MULTILINE)
#: Shims resolved, by what they were resolved for: the file that decided, its stamp, the answer.
_RESOLVED: dict[tuple[str, ...], tuple[str, tuple[int, int, int] | None, str | None]] = {}
#: What ``pyenv latest`` leaves out when it completes a prefix such as ``3.11``.
_UNSTABLE = re.compile(r"(-dev|-src|-latest|(a|b|rc)[0-9]+|[0-9]t)\Z")


def pyenv_root(head: bytes) -> str | None:
    """The ``PYENV_ROOT`` of a shim, from the start of its file (None: not a pyenv shim)."""
    found = _ROOT_LINE.search(head) if head.startswith(b"#!") else None
    return os.fsdecode(found.group(1)) if found else None


def resolve_shim(shim: str, root: str, env: Mapping[str, str], cwd: str) -> str | None:
    """The program the shim ``shim`` of ``root`` starts in ``cwd`` with ``env``; None where pyenv
    would fail (no version in force, nor the system, has the program).

    Each run has a working directory of its own in one work root, so the answer is kept for the
    folder above it: the next run's costs a look for its own ``.python-version`` and a ``stat``
    of the file that decided (a ``.python-version`` put in a folder above later is not seen).
    """
    key = (shim, *(env.get(name, "") for name in ("PYENV_VERSION", "PYENV_DIR", "PATH")),
           os.path.dirname(os.path.abspath(cwd)))
    known = _RESOLVED.get(key)
    if (known is not None and file_stamp(known[0]) == known[1]
            and not os.path.exists(os.path.join(cwd, ".python-version"))):
        return known[2]
    decided, versions = ("", env["PYENV_VERSION"]) if env.get("PYENV_VERSION") else (
        _version_file_versions(root, env, cwd))
    found = _program(os.path.basename(shim), root, env, versions)
    if len(_RESOLVED) > 256:
        _RESOLVED.clear()
    _RESOLVED[key] = (decided, file_stamp(decided), found)
    return found


def file_stamp(path: str) -> tuple[int, int, int] | None:
    """What changes when a file is written (None: it does not exist)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size, info.st_ino


def _program(program: str, root: str, env: Mapping[str, str], versions: str) -> str | None:
    for version in [*filter(None, versions.split(":")), "system"]:
        if version == "system":
            shims = os.path.join(root, "shims")
            path = os.pathsep.join(p for p in env.get("PATH", os.defpath).split(os.pathsep)
                                   if os.path.normpath(p) != shims)
            found = shutil.which(program, path=path)
        else:
            installed = _installed(root, version)  # one not installed is passed over
            found = installed and os.path.join(root, "versions", installed, "bin", program)
        if found and os.access(found, os.X_OK):
            return found
    return None


def _version_file_versions(root: str, env: Mapping[str, str], cwd: str) -> tuple[str, str]:
    """The file that names the versions in force, and what it names."""
    for start in dict.fromkeys([env.get("PYENV_DIR") or cwd, cwd]):
        folder = os.path.abspath(start)
        while True:
            path = os.path.join(folder, ".python-version")
            found = _read_version_file(path)
            if found is not None:
                return path, found
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
    path = os.path.join(root, "version")
    return path, _read_version_file(path) or ""


def _read_version_file(path: str) -> str | None:
    """The versions a file names (its lines' first words, comments and ``..`` left out), joined
    by ``:``; None when the file is missing or names none."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read(65536)
    except OSError:
        return None
    words = [line.split()[0] for line in text.splitlines() if line.split()]
    versions = [w for w in words if not w.startswith("#") and ".." not in w.split("/")]
    return ":".join(versions) or None


def _installed(root: str, version: str) -> str | None:
    """The installed version folder ``version`` names: itself, without ``python-``, or the newest
    stable release it is a prefix of (``3.11`` -> ``3.11.7``)."""
    folder = os.path.join(root, "versions")
    for name in (version, version.removeprefix("python-")):
        if os.path.isdir(os.path.join(folder, name)):
            return name
    try:
        names = os.listdir(folder)
    except OSError:
        return None
    for prefix in (version, version.removeprefix("python-")):
        matching = [n for n in names if re.match(re.escape(prefix) + r"[-.]", n)
                    and not _UNSTABLE.search(n)]
        if matching:
            return max(matching, key=lambda n: [int(p) if p.isdigit() else -1
                                                for p in re.split(r"[.-]", n)])
    return None
