"""What watch mode watches, and which changes it ignores.

Kept apart from :mod:`sss_emulator.watch.loop` (the loop, watchdog) because it is pure path logic:
given an invocation and the settings it resolved to, which folders and files can change the next
run, and which paths are our own output. Getting the second list right is what keeps a watcher
from rerunning itself forever (pytest-watch #38): a script that writes to HOME or SHARED_DIR must
never trigger a run.
"""

from __future__ import annotations

import fnmatch
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sss_emulator.config import Settings, find_pyproject
from sss_emulator.core.roots import FALLBACK_PREFIXES
from sss_emulator.core.workspace import default_root

__all__ = ("IGNORED_DIR_NAMES", "IGNORED_FILE_PATTERNS", "OWN_TEMP_PREFIXES", "WatchTargets",
           "targets_for", "upload_paths")

#: Folders whose contents never matter for a run: caches and version control.
IGNORED_DIR_NAMES = frozenset({
    "__pycache__", ".git", ".hg", ".svn", ".mypy_cache", ".pytest_cache", ".ruff_cache",
})
#: Names of what the emulator itself creates in the temp dir: its private base
#: (``sss-emulator-<uid>``: work, shared, tls, standin, scratch) and the plain temporary folders
#: used where an owned root cannot be private (``sss-standin-*``, ``sss-doctor-*``, ...).
#: Ignored wherever TMPDIR is, even inside a watched folder.
OWN_TEMP_PREFIXES = ("sss-emulator-", *FALLBACK_PREFIXES)
#: Editor swap, backup and probe files (vim writes ``4913`` to test a folder is writable).
IGNORED_FILE_PATTERNS = ("*.swp", "*.swo", "*.swx", "*~", ".#*", "#*#", "4913", "*.pyc")


def _norm(path: str | os.PathLike[str]) -> str:
    return os.path.normpath(os.path.abspath(os.fspath(path)))


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


@dataclass(frozen=True)
class WatchTargets:
    """Folders watched with everything below them, single files, and paths never to react to.

    All paths are absolute and normalised; :meth:`matters` is called from watchdog's thread for
    every event, so it only compares strings.
    """

    folders: frozenset[str]
    files: frozenset[str]
    ignored_roots: tuple[str, ...]
    ignore_patterns: tuple[str, ...] = ()
    cwd: str = ""
    #: Folders watched one level deep only (see :data:`_BROAD`).
    flat_folders: frozenset[str] = frozenset()
    #: Path prefixes of what the emulator writes in the temp dir (see OWN_TEMP_PREFIXES).
    ignored_prefixes: tuple[str, ...] = ()
    #: Paths whose own events never matter, though what is below them may: the snapshot
    #: folder (its files change on every ``--update-snapshot``, and it may be the project).
    ignored_exact: frozenset[str] = frozenset()

    def matters(self, path: str) -> bool:
        """Whether a change to ``path`` should rerun the script."""
        path = _norm(path)
        if self.is_ignored(path):
            return False
        return (path in self.files or os.path.dirname(path) in self.flat_folders
                or any(_under(path, folder) for folder in self.folders))

    def is_ignored(self, path: str) -> bool:
        """Our own outputs, caches, editor droppings and the user's ``--ignore`` patterns."""
        if path in self.ignored_exact or any(_under(path, root) for root in self.ignored_roots):
            return True
        if path.startswith(self.ignored_prefixes):
            return True
        parts = path.split(os.sep)
        if IGNORED_DIR_NAMES.intersection(parts):
            return True
        name = parts[-1]
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in IGNORED_FILE_PATTERNS):
            return True
        relative = os.path.relpath(path, self.cwd) if self.cwd else path
        return any(
            fnmatch.fnmatchcase(candidate, pattern)
            for pattern in self.ignore_patterns
            for candidate in (name, path, relative)
        )

    def schedule(self) -> list[tuple[str, bool]]:
        """``(folder, recursive)`` pairs to hand to the observer, without overlaps.

        A folder that does not exist (yet, or any more) is replaced by a flat watch of its
        parent, so that its creation is seen: :meth:`matters` accepts the folder's own path.
        """
        recursive = sorted(self.folders)
        kept = [f for f in recursive if not any(f != o and _under(f, o) for o in recursive)]
        existing = [f for f in kept if os.path.isdir(f)]
        parents = {os.path.dirname(f) for f in self.files} | set(self.flat_folders)
        parents |= {os.path.dirname(f) for f in kept if not os.path.isdir(f)}
        flat = [p for p in sorted(parents)
                if os.path.isdir(p) and not any(_under(p, folder) for folder in existing)]
        return [(f, True) for f in existing] + [(p, False) for p in flat]

    def describe(self) -> str:
        """A short list for the start-up line, relative to the working directory."""
        def show(path: str) -> str:
            rel = os.path.relpath(path, self.cwd) if self.cwd else path
            return path if rel.startswith("..") else rel

        items = [show(f) + os.sep for f in sorted(self.folders)]
        items += [show(f) + os.sep + "*" for f in sorted(self.flat_folders)]
        items += [show(f) for f in sorted(self.files)
                  if os.path.dirname(f) not in self.flat_folders
                  and not any(_under(f, folder) for folder in self.folders)]
        return ", ".join(items) or "nothing"


def upload_paths(script_args: Sequence[str], cwd: Path) -> list[Path]:
    """The files named by ``@path`` values (``-p0 @x``, ``-p0=@x``, ``-Oa=@x``), existing or not."""
    paths = []
    for arg in script_args:
        value = arg.partition("=")[2] if arg.startswith("-") and "=" in arg else arg
        if value.startswith("@") and not value.startswith("@@") and len(value) > 1:
            paths.append(cwd / value[1:])
    return paths


def _path_option(value: object, cwd: Path) -> Path | None:
    if not value or not isinstance(value, str | os.PathLike):
        return None
    return cwd / os.path.expanduser(os.fspath(value))


def targets_for(
    script: str,
    script_args: Sequence[str],
    options: dict[str, object],
    cwd: Path,
    settings: Settings | None,
) -> WatchTargets:
    """Everything a run of ``script`` reads, from its resolved settings when it has them.

    ``settings`` is ``None`` when the configuration could not be read (a broken pyproject.toml,
    a profile that is not one): then the raw command-line paths are watched, so that fixing the
    file reruns the script.
    """
    folders: set[Path] = set()
    files: set[Path] = set()
    ignored: set[Path] = {default_root("work"), default_root("shared")}
    exact: set[Path] = set()

    script_path = cwd / script
    if script_path.is_file():
        files.add(script_path)
        folders.update({script_path.absolute().parent, script_path.resolve().parent})
    elif not (settings and settings.bin_dirs_configured):
        folders.add(script_path.parent)  # a script (or its folder) that is gone for now
    files.update(upload_paths(script_args, cwd))
    pyproject = find_pyproject(cwd)
    if pyproject is not None:
        files.add(pyproject)

    if settings is not None:
        folders.update(settings.bin_dirs)
        if settings.home is not None:
            folders.add(settings.home)
        ignored.update({settings.work_root, settings.shared_root})
        values = settings.values
    else:
        values = options
        folders.update(p for p in (_path_option(v, cwd) for v in _many(options.get("bin_dirs")))
                       if p is not None)
        for name in ("work_root", "shared_root"):
            root = _path_option(options.get(name), cwd)
            if root is not None:
                ignored.add(root)
    snapshot = _path_option(options.get("snapshot"), cwd)
    if snapshot is not None:  # --update-snapshot writes its files there after every run
        from sss_emulator.devtools.snapshots import LAYOUT, MANIFEST

        # only the snapshot's own files: the folder may be the project (--snapshot .)
        ignored.update(snapshot / name for name in (*LAYOUT, "shared", MANIFEST))
        exact.add(snapshot)
    profile = _path_option(values.get("profile"), cwd)
    if profile is not None:
        folders.add(profile if profile.is_dir() else profile.parent)
    home = _path_option(values.get("home"), cwd)
    if home is not None:
        folders.add(home)
    for name in ("users", "authtoken_config"):
        path = _path_option(values.get(name), cwd)
        if path is not None:
            files.add(path)
    # Files given to other options: the stand-in's seed data, extra uploads (--attach).
    for value in (*_many(values.get("data")), *_many(options.get("attach"))):
        path = _path_option(value, cwd)
        if path is not None:
            files.add(path)
    for extra in _many(options.get("watch_paths")):
        path = _path_option(extra, cwd)
        if path is not None:
            (folders if path.is_dir() else files).add(path)

    broad = {_norm(f) for f in folders} & _broad_folders()
    return WatchTargets(
        folders=frozenset(_norm(f) for f in folders) - broad,
        flat_folders=frozenset(broad),
        files=frozenset(_norm(f) for f in files),
        ignored_roots=tuple(sorted({_norm(r) for r in ignored}
                                   | {_norm(r.resolve()) for r in ignored})),
        ignore_patterns=tuple(str(p) for p in _many(options.get("ignore"))),
        cwd=_norm(cwd),
        ignored_prefixes=_own_temp_prefixes(),
        ignored_exact=frozenset({_norm(p) for p in exact} | {_norm(p.resolve()) for p in exact}),
    )


def _own_temp_prefixes() -> tuple[str, ...]:
    temp = Path(tempfile.gettempdir())
    bases = {_norm(temp), _norm(temp.resolve())}
    return tuple(sorted(os.path.join(base, name) for base in bases for name in OWN_TEMP_PREFIXES))


def _broad_folders() -> set[str]:
    """Folders far too big to watch recursively when a script happens to sit right in them."""
    return {_norm(p) for p in (Path.home(), Path(tempfile.gettempdir()), Path("/"))}


def _many(value: object) -> Iterable[object]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return value
    return (value,)
