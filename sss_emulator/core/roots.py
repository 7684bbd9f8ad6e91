"""The private roots runs write below, made safe to trust, and what dead runs left in them.

``<tmp>/sss-emulator-<uid>`` lies in a folder every local user can write. Another user may have
made it first and planted ``shared -> /home/victim`` (which ``/Shared`` would then serve) or a TLS
key, so the folder and each root below it must be a real directory (never a link), owned by this
user, and closed to everyone else; if not, the run is refused with what to do.

Every directory a run makes below the work root carries its owner in its name
(``call-<pid>.<start time>-…``); a process that starts sweeps the directories whose owner has
died (a SIGKILLed run), and never those of a process that is still running, nor ``--keep``
directories. The stand-in's own folders (its mail spool, its file store with ``--mounts``, its
certificate at ``--server-address``) follow the same rule in ``<tmp>/sss-emulator-<uid>/standin``
(:func:`standin_root`, :func:`owned_dir`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
from pathlib import Path

from sss_emulator.core import processes
from sss_emulator.errors import SetupError

__all__ = (
    "OWNER_TAG",
    "check_private",
    "checked_root",
    "default_root",
    "mark_kept",
    "owned_dir",
    "private_base",
    "private_dir",
    "private_root",
    "standin_root",
    "sweep_dead_runs",
)

logger = logging.getLogger("sss_emulator.core.roots")


#: ``<pid>.<start time>`` of this process: with the start time, a recycled pid is not mistaken
#: for the run's owner.
OWNER_TAG = f"{os.getpid()}.{processes.start_time(os.getpid()) or 0}"
_OWNED = re.compile(
    r"(?:call|upload|history|trash|standin|caosroot|address-tls)-(\d+)\.(\d+)-")
_KEPT_SUFFIX = ".kept"
_swept: set[str] = set()
_swept_lock = threading.Lock()


def private_base() -> Path:
    """``<tmp>/sss-emulator-<uid>``, the parent of the default roots."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"sss-emulator-{uid}"


def default_root(kind: str) -> Path:
    """``<tmp>/sss-emulator-<uid>/<kind>``: private to this user, shared by their runs."""
    return private_base() / kind


def check_private(path: Path) -> Path:
    """Refuse ``path`` unless it is a real directory of this user that nobody else may use."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise SetupError(f"Cannot use {path}: {exc.strerror or exc}.") from exc
    problem = None
    if stat.S_ISLNK(info.st_mode):
        problem = "is a symbolic link"
    elif not stat.S_ISDIR(info.st_mode):
        problem = "is not a directory"
    elif hasattr(os, "getuid") and info.st_uid != os.getuid():
        problem = f"belongs to another user (uid {info.st_uid})"
    elif info.st_mode & 0o022:
        problem = f"may be written by other users (mode {stat.S_IMODE(info.st_mode):o})"
    elif info.st_mode & 0o077:
        # ours, and nobody else could write in it (older versions made it 0755): close it
        os.chmod(path, 0o700, follow_symlinks=False)
    if problem is not None:
        raise SetupError(
            f"{path} {problem}; another local user may have prepared it to redirect your runs. "
            f"Remove it if it is not yours (or ask an administrator), or set SSS_WORK_ROOT and "
            "SSS_SHARED_ROOT to folders of your own."
        )
    return path


def private_dir(path: Path) -> Path:
    """Make ``path`` (mode 0700) and check it. Below the default private base, the base and
    every level are checked; elsewhere (a root the user chose) only that it is no link."""
    base = private_base()
    if path.is_relative_to(base) and path != base:
        level = base
        for part in (".", *path.relative_to(base).parts):  # "." is the base itself
            level = level / part if part != "." else base
            with contextlib.suppress(FileExistsError):
                level.mkdir(mode=0o700)
            check_private(level)
        return path
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.is_symlink():
        raise SetupError(f"{path} is a symlink; remove it so runs cannot be redirected elsewhere.")
    return path


#: Roots :func:`private_dir` made and checked: path -> what ``lstat`` said of it then.
_checked: dict[str, tuple[int, int, int, int]] = {}
_CHECKED_KEPT = 1024


def _identity(path: str) -> tuple[int, int, int, int] | None:
    """Device, inode, owner and mode of ``path`` itself (not of a link's target), or None."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino, info.st_uid, info.st_mode


def checked_root(path: Path) -> Path:
    """:func:`private_dir` for a root every run writes below, checked in full once per process.

    Later runs look once (``lstat``) that ``path`` is still the directory that was checked: the
    same device and inode, owner and mode. Anything else (removed, replaced by a link or by
    another user's folder) is made and checked again as on first use. Making and checking every
    level on each run cost more than a shell script's run on some file systems.
    """
    key = str(path)
    known = _checked.get(key)
    if known is not None and _identity(key) == known:
        return path
    private_dir(path)
    found = _identity(key)
    if found is not None and stat.S_ISDIR(found[3]):
        if len(_checked) >= _CHECKED_KEPT:  # e.g. a test suite's thousand tmp roots
            _checked.clear()
        _checked[key] = found
    return path


def private_root(kind: str) -> Path:
    """``<tmp>/sss-emulator-<uid>/<kind>``, made and checked (e.g. ``tls``)."""
    return private_dir(private_base() / kind)


def mark_kept(workdir: Path) -> None:
    """Keep ``workdir`` from being swept as a dead run's (``--keep`` asked for it)."""
    with contextlib.suppress(OSError):
        workdir.with_name(workdir.name + _KEPT_SUFFIX).touch(mode=0o600)


def _owner_alive(pid: str, started: str) -> bool:
    owner = int(pid)
    if owner == os.getpid():
        return True
    if started == "0" or not processes.have_proc():
        return processes.exists(owner)
    return processes.start_time(owner) == started  # another start time: the pid was reused


def _kill_processes_in(folder: str) -> None:
    """SIGKILL this user's processes whose working directory lies in ``folder`` (Linux)."""
    for process in processes.running_in(Path(folder)):
        with contextlib.suppress(OSError):
            os.kill(process.pid, signal.SIGKILL)
            logger.info("stopped process %s left running in %s", process.pid, folder)


def sweep_dead_runs(work_root: Path) -> list[Path]:
    """Remove what runs of dead processes left in ``work_root`` (once per process and root).

    Only directories named with an owner tag are touched, only when that owner is gone, and
    never one kept with ``--keep``. Returns what was removed.
    """
    key = str(work_root)
    with _swept_lock:
        if key in _swept:
            return []
        _swept.add(key)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(work_root))
    except OSError:
        return removed
    names = {entry.name for entry in entries}
    for entry in entries:
        match = _OWNED.match(entry.name)
        if match is None or not entry.is_dir(follow_symlinks=False):
            continue
        if entry.name + _KEPT_SUFFIX in names or _owner_alive(*match.groups()):
            continue
        _kill_processes_in(entry.path)  # the dead run's script may have outlived it
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(Path(entry.path))
    if removed:
        logger.info("removed %d directories that ended runs left in %s", len(removed), work_root)
    return removed


def standin_root() -> Path | None:
    """``<tmp>/sss-emulator-<uid>/standin``, where the stand-in keeps its folders, with what
    dead owners left there swept (once per process); None when it is not this user's alone.

    Swept when a stand-in is about to use it, so a SIGKILLed emulator's mail spool, stored files
    and certificate go with the next start that has a stand-in, never a running one's. The
    stand-in (``backend.standin``, which may not import the core) names the same folder.
    """
    try:
        root = private_root("standin")
    except SetupError as exc:
        logger.debug("the stand-in uses plain temporary folders: %s", exc)
        return None
    sweep_dead_runs(root)
    return root


def owned_dir(kind: str) -> Path:
    """A new private folder ``<kind>-<pid>.<start time>-…`` below :func:`standin_root`, which
    the next start removes if this process dies without doing it (``kind`` is one the sweep
    knows: ``caosroot``, ``address-tls``); a plain temporary folder where that root is not
    usable."""
    if _OWNED.match(f"{kind}-1.1-") is None:
        raise ValueError(f"{kind!r} folders would never be swept; add the kind to _OWNED")
    root = standin_root()
    if root is not None:
        with contextlib.suppress(OSError):
            return Path(tempfile.mkdtemp(prefix=f"{kind}-{OWNER_TAG}-", dir=root))
    return Path(tempfile.mkdtemp(prefix=f"sss-{kind}-"))
