"""The private roots runs write below, made safe to trust, and what dead runs left in them.

``<tmp>/sss-emulator-<uid>`` lies in a folder every local user can write. Another user may have
made it first and planted ``shared -> /home/victim`` (which ``/Shared`` would then serve) or a TLS
key, so the folder and each root below it must be a real directory (never a link), owned by this
user, and closed to everyone else; if not, the run is refused with what to do.

Every directory a run makes below the work root carries its owner in its name
(``call-<pid>.<start time>-…``); a process that starts sweeps the directories whose owner has
died (a SIGKILLed run), and never those of a process that is still running, nor ``--keep``
directories. Every other temporary folder follows the same rule in an owned root below the
private base (:data:`OWNED_ROOTS`, :func:`owned_dir`): the stand-in's own folders (its mail
spool, its file store with ``--mounts``, its certificate at ``--server-address``) in
``<tmp>/sss-emulator-<uid>/standin`` (:func:`standin_root`), and the front ends' scratch folders
(a call file case's roots, a ``--coverage`` run's data, a history's spooled outputs, ``record``'s
and ``doctor``'s scratch) in ``<tmp>/sss-emulator-<uid>/scratch``. One sweep,
:func:`sweep_dead_runs`, serves every root; a root is swept once per process, when the process
first makes a folder there.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from sss_emulator.core import processes
from sss_emulator.errors import SetupError
from sss_emulator.logs import Logger

__all__ = (
    "FALLBACK_PREFIXES",
    "OWNED_ROOTS",
    "WORK_KINDS",
    "check_private",
    "checked_root",
    "default_root",
    "mark_kept",
    "owned_dir",
    "owned_root",
    "owned_scratch",
    "owner_alive",
    "owner_tag",
    "private_base",
    "private_dir",
    "private_root",
    "standin_root",
    "sweep_dead_runs",
)

logger = Logger("sss_emulator.core.roots")


_owner: list[tuple[int, str]] = []


def owner_tag() -> str:
    """``<pid>.<start time>`` of this process: with the start time, a recycled pid is not
    mistaken for the run's owner. Worked out again in a forked child, whose runs are its own
    (a child carrying its parent's tag had its live runs swept once the parent was gone)."""
    pid = os.getpid()
    if not _owner or _owner[0][0] != pid:
        _owner[:] = [(pid, f"{pid}.{processes.start_time(pid) or 0}")]
    return _owner[0][1]
#: Kinds of folder a run makes in a work root (the workspace, ``serve``'s uploads and history);
#: the workspace sweeps them when it first uses that root.
WORK_KINDS = ("call", "upload", "history", "trash")
#: The owned roots below the private base and the kinds of folder :func:`owned_dir` makes in
#: each: ``standin`` (the stand-in's folders; ``standin-…`` are named by ``backend.standin``,
#: which may not import this module) and ``scratch`` (the front ends' temporary folders: a call
#: file case's roots, a ``--coverage`` run's data, a history's spool, ``record``, ``doctor``).
OWNED_ROOTS: dict[str, tuple[str, ...]] = {
    "standin": ("standin", "caosroot", "address-tls"),
    "scratch": ("callfile", "coverage", "history", "record", "doctor"),
}
_ROOT_OF = {kind: root for root, kinds in OWNED_ROOTS.items() for kind in kinds}
#: Names of the plain temporary folders made where an owned root cannot be private; nothing
#: sweeps them (the temp dir is everyone's), but watch mode ignores them.
FALLBACK_PREFIXES = tuple(f"sss-{kind}-" for kind in _ROOT_OF)
_OWNED = re.compile(
    rf"(?:{'|'.join(re.escape(k) for k in sorted({*WORK_KINDS, *_ROOT_OF}))})-(\d+)\.(\d+)-")
_KEPT_SUFFIX = ".kept"
_swept: set[str] = set()
_swept_lock = threading.Lock()
_noted: set[str] = set()
_unusable: dict[str, str] = {}
#: What each kind's folders hold, for the note that they cannot be private.
_WHAT = {
    "standin": "the stand-in's mail spools", "caosroot": "the stand-in's file stores",
    "address-tls": "--server-address certificates", "callfile": "call file cases' folders",
    "coverage": "--coverage data", "history": "the run history's large outputs",
    "record": "record's scratch folders", "doctor": "doctor's trial folders",
}


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
        _close_mode(path)
    if problem is not None:
        raise SetupError(
            f"{path} {problem}; another local user may have prepared it to redirect your runs. "
            f"Remove it if it is not yours (or ask an administrator), or set SSS_WORK_ROOT and "
            "SSS_SHARED_ROOT to folders of your own."
        )
    return path


def _close_mode(path: Path) -> None:
    """chmod 0700 through a descriptor opened without following links (``os.chmod`` with
    ``follow_symlinks=False`` raises NotImplementedError where glibc is older than 2.32)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fchmod(fd, 0o700)
    finally:
        os.close(fd)


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
    _check_chosen(path)
    return path


def _check_chosen(path: Path) -> None:
    """Refuse a root the user named (``--work-root /tmp/work``) that another user may change.

    Its owner (or anyone who may write in it) can rename a run's folder away and put their own,
    or a link, in its place while the run goes on: the run's ini with its token and the files
    it shares would then be written where they choose. Unlike the default roots, a root of the
    user's choosing is never chmodded: it is refused with what to do.
    """
    info = os.lstat(path)
    problem = None
    if not stat.S_ISDIR(info.st_mode):
        problem = "is not a directory"
    elif hasattr(os, "getuid") and info.st_uid != os.getuid():
        problem = f"belongs to another user (uid {info.st_uid})"
    elif _others_may_write(info):
        # group-writable is fine for the user's own group (umask 002 with a group per user)
        problem = f"may be written by other users (mode {stat.S_IMODE(info.st_mode):o})"
    else:
        problem = _parent_problem(path)
    if problem is not None:
        raise SetupError(
            f"{path} {problem}: whoever may write in it can swap your runs' folders (and the "
            "tokens in them). Use a folder of your own that only you can write (chmod go-w), "
            "or leave SSS_WORK_ROOT and SSS_SHARED_ROOT unset."
        )


def _others_may_write(info: os.stat_result) -> bool:
    return bool(info.st_mode & 0o002 or (info.st_mode & 0o020 and info.st_gid != os.getgid()))


def _parent_problem(path: Path) -> str | None:
    """Why a folder above a chosen root lets another user swap the root itself, or None.

    Whoever may write in a parent can rename the root away and put their own folder there, as
    ssh's StrictModes reasons for ``~/.ssh``; a sticky folder (``/tmp``) lets nobody rename
    what is not theirs, and root's folders are root's.
    """
    uid = os.getuid() if hasattr(os, "getuid") else None
    for parent in path.resolve().parents:
        info = os.stat(parent)
        if info.st_mode & stat.S_ISVTX:
            continue
        if uid is not None and info.st_uid not in (0, uid):
            return f"lies in {parent}, which belongs to another user (uid {info.st_uid})"
        if _others_may_write(info):
            return (f"lies in {parent}, which other users may write in (mode "
                    f"{stat.S_IMODE(info.st_mode):o})")
    return None


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


def owner_alive(pid: str, started: str) -> bool:
    """Whether process ``pid`` that started at ``started`` (its owner tag) still runs."""
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
        if entry.name + _KEPT_SUFFIX in names or owner_alive(*match.groups()):
            continue
        _kill_processes_in(entry.path)  # the dead run's script may have outlived it
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(Path(entry.path))
    if removed:
        logger.info("removed %d directories that ended runs left in %s", len(removed), work_root)
    return removed


def owned_root(name: str) -> Path | None:
    """``<tmp>/sss-emulator-<uid>/<name>`` (one of :data:`OWNED_ROOTS`), with what dead owners
    left there swept (once per process); None when it cannot be this user's alone.

    Swept when a process is about to make a folder there, so what a SIGKILLed emulator, server
    or test session left goes with the next start that uses the root, never a running one's.
    """
    if name not in OWNED_ROOTS:
        raise ValueError(f"{name!r} is not an owned root; add it to OWNED_ROOTS")
    try:
        root = private_root(name)
    except SetupError as exc:
        logger.debug("%s folders go to plain temporary folders: %s", name, exc)
        _unusable[name] = exc.message.split("; ", 1)[0].rstrip(".")  # "<path> is a link"
        return None
    sweep_dead_runs(root)
    return root


def _note_fallback(kind: str, folder: Path) -> None:
    """Say once per process and kind, in one line, that ``kind``'s folders are not private.

    A note, not an error: the folder works (mode 0700, as ``mkdtemp`` makes it), but nothing
    sweeps the temp dir, so a killed emulator leaves it behind, and the user may want to remove
    what made the root unusable (often a folder another user made first).
    """
    with _swept_lock:
        if kind in _noted:
            return
        _noted.add(kind)
    reason = _unusable.get(_ROOT_OF[kind], "the private root cannot be used")
    logger.warning("note: %s; %s go to %s instead, left behind if the emulator is killed",
                   reason, _WHAT[kind], folder.parent)


def standin_root() -> Path | None:
    """``<tmp>/sss-emulator-<uid>/standin``, where the stand-in keeps its folders, with what
    dead owners left there swept (once per process); None when it is not this user's alone.

    Swept when a stand-in is about to use it, so a SIGKILLed emulator's mail spool, stored files
    and certificate go with the next start that has a stand-in, never a running one's. The
    stand-in (``backend.standin``, which may not import the core) names the same folder.
    """
    return owned_root("standin")


def owned_dir(kind: str) -> Path:
    """A new private folder ``<kind>-<pid>.<start time>-…`` in the owned root of ``kind``
    (:data:`OWNED_ROOTS`), which the next start removes if this process dies without doing it;
    a plain temporary folder ``sss-<kind>-…`` (also 0700) where that root is not usable.

    An unknown kind is refused: its folders would never be swept.
    """
    name = _ROOT_OF.get(kind)
    if name is None:
        raise ValueError(f"{kind!r} folders would never be swept; add the kind to OWNED_ROOTS")
    root = owned_root(name)
    if root is not None:
        try:
            return Path(tempfile.mkdtemp(prefix=f"{kind}-{owner_tag()}-", dir=root))
        except OSError as exc:
            _unusable[name] = f"cannot make a folder in {root}: {exc.strerror or exc}"
    folder = Path(tempfile.mkdtemp(prefix=f"sss-{kind}-"))
    _note_fallback(kind, folder)
    return folder


@contextlib.contextmanager
def owned_scratch(kind: str) -> Iterator[Path]:
    """:func:`owned_dir` for the length of a ``with`` block, removed at its end.

    In place of ``tempfile.TemporaryDirectory``: what a block cut short by SIGKILL (or a thread
    cut off at exit) leaves is swept by the next start instead of staying in the temp dir.
    """
    folder = owned_dir(kind)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
