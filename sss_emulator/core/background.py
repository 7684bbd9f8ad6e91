"""What the cleanup thread does off the runs' critical path: deleting finished runs'
directories, and making the next run's ahead.

Removing is split in two so the caller does not wait for the file system: the directory is first
*renamed* into a private trash folder on the same file system (one cheap system call; from then
on it is gone from the work root and nobody can see or reuse it), and a background thread deletes
it. Deleting directories is what costs (on some ext4 set-ups several milliseconds per directory,
more than the script itself). :func:`wait_for_removals` waits for that thread (the emulator's
``close()`` and interpreter exit call it); where the trash is on another file system, or the
rename fails for any other reason, the directory is deleted on the spot as before.

Making directories costs too (see :class:`Stage`): from an emulator's second run on, the same
thread makes the next run's directories after each run, and the run renames them into place.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import errno
import itertools
import os
import random
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sss_emulator.core import processes
from sss_emulator.core.call import UPLOAD_DIR
from sss_emulator.core.roots import checked_root, default_root, owner_alive, owner_tag, private_dir
from sss_emulator.errors import SetupError
from sss_emulator.logs import Logger

__all__ = ("Stage", "Staged", "discard", "into_place", "make_shared", "random_name", "remove",
           "wait_for_removals", "wake", "write_file")

logger = Logger("sss_emulator.core.background")


class _Remover:
    """Deletes finished runs' directories in one background thread, off the caller's path.

    Runs rename their directories into one of two trash buckets of this process while the
    thread deletes what is in the other (a double buffer): a rename and a deletion in the same
    parent directory would wait for each other's lock on it. The thread lingers a moment after
    its last job so a loop of runs does not start a thread per run, and is a daemon so a
    lingering thread never delays the end of the program; an ``atexit`` hook waits for the
    removals still queued, so none is lost on a normal exit or Ctrl+C. What a process that was
    killed outright left in the trash is swept by the next one.
    """

    #: Seconds the thread waits for more work before it ends.
    LINGER_S = 1.0

    def __init__(self) -> None:
        self._reset()
        self._swept = False
        #: Folders whose entries cannot be renamed into the trash (another file system).
        self._elsewhere: set[str] = set()

    def _reset(self) -> None:
        """A fresh state: at start, and in a forked child (whose copy of the thread is not
        running and whose lock may have been held by it at the fork)."""
        # Re-entrant: the collector may run an emulator's finalizer (which hands a job over)
        # on this thread while it holds the lock.
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._queue: list[Path] = []
        self._jobs: list[Callable[[], None]] = []
        self._busy = False
        self._thread: threading.Thread | None = None
        self._buckets: dict[int, Path] = {}
        self._intake = 0
        self._pid = os.getpid()
        self._names = itertools.count()

    def _bucket(self, index: int) -> Path:
        """Trash bucket ``index`` (0 or 1) of this process, made on first use."""
        if self._pid != os.getpid():  # a forked child: buckets of its own
            self._pid, self._buckets = os.getpid(), {}
        bucket = self._buckets.get(index)
        if bucket is None:
            bucket = private_dir(default_root("trash") / f"{owner_tag()}-{index}")
            self._buckets[index] = bucket
        return bucket

    def remove(self, path: Path, made: Iterable[str] = (), *, wake: bool = True) -> None:
        """Make ``path`` vanish now; its contents are deleted in the background. Where that
        cannot be (the trash is on another file system), it is deleted on the spot; ``made``
        names the files the run made in it, which are then tried first. ``wake=False`` leaves
        the thread asleep until :meth:`wake`."""
        parent = str(path.parent)
        if parent in self._elsewhere:
            _delete_now(path, made)
            return
        try:
            with self._lock:
                bucket = self._bucket(self._intake)
            target = bucket / f"{next(self._names)}-{path.name}"
            os.rename(path, target)
        except (OSError, SetupError) as exc:  # another file system, a vanished path, a bad trash
            if isinstance(exc, OSError) and exc.errno == errno.EXDEV:
                self._elsewhere.add(parent)  # no rename to try next time
            _delete_now(path, made)
            return
        with self._lock:
            self._queue.append(target)
            if wake:
                self._wake()

    def submit(self, job: Callable[[], None], *, wake: bool = True) -> None:
        """Run ``job`` in the background thread, before the removals waiting there."""
        with self._lock:
            self._jobs.append(job)
            if wake:
                self._wake()

    def wake(self) -> None:
        """Start on what was handed over with ``wake=False``."""
        with self._lock:
            if self._queue or self._jobs:
                self._wake()

    def _wake(self) -> None:
        """Tell the thread there is work, starting it if need be (the lock is held). Where no
        thread can start (at interpreter shutdown, out of threads), the work stays queued for
        :meth:`wait`, which then does it itself."""
        self._changed.notify_all()
        if self._thread is None:
            thread = threading.Thread(target=self._work, name="sss-cleanup", daemon=True)
            try:
                thread.start()
            except RuntimeError as exc:
                logger.debug("no cleanup thread: %s", exc)
                return
            self._thread = thread

    def _work(self) -> None:
        if not self._swept:
            self._swept = True
            self._sweep_orphans()
        while True:
            with self._lock:
                self._busy = False
                self._changed.notify_all()
                if not self._queue and not self._jobs:
                    self._changed.wait(self.LINGER_S)
                if not self._queue and not self._jobs:
                    self._thread = None
                    self._changed.notify_all()
                    return
                jobs, self._jobs = self._jobs, []
                batch, self._queue = self._queue, []
                if batch:
                    self._intake ^= 1  # runs rename into the other bucket meanwhile
                self._busy = True
            _do(jobs, batch)

    def _sweep_orphans(self) -> None:
        """Queue what processes that died without cleaning up left in the trash (and the
        directories they had made ahead for runs that never came)."""
        orphans = []
        for kind in ("trash", "stage"):
            try:
                entries = list(os.scandir(default_root(kind)))
            except OSError:
                continue
            orphans += [Path(e.path) for e in entries if not _owner_alive(e.name)]
        with self._lock:
            self._queue.extend(orphans)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every directory handed over so far is deleted; False on timeout."""
        with self._lock:
            if self._queue or self._jobs:
                self._wake()  # whatever was handed over without waking the thread
            if self._thread is not None:
                return self._changed.wait_for(
                    lambda: not self._queue and not self._jobs and not self._busy, timeout)
            jobs, self._jobs = self._jobs, []  # no thread could start: done here
            batch, self._queue = self._queue, []
        _do(jobs, batch)
        return True

    def at_exit(self) -> None:
        """Finish the removals and take this process's (empty) buckets away."""
        if self.wait(timeout=60):
            for bucket in self._buckets.values():
                with contextlib.suppress(OSError):
                    bucket.rmdir()


def _do(jobs: list[Callable[[], None]], batch: list[Path]) -> None:
    for job in jobs:  # first: a run may be about to start that waits for one
        try:
            job()
        except Exception:
            logger.exception("background job failed")
    for path in batch:
        shutil.rmtree(path, ignore_errors=True)


def _delete_now(path: Path, made: Iterable[str]) -> None:
    """Delete a run's directory on the spot: as a run usually leaves it (the files it was made
    with, an empty ``.upload_files``), in a few system calls; else the whole tree."""
    folder = str(path)
    try:
        for name in made:
            os.unlink(f"{folder}/{name}")
        os.rmdir(f"{folder}/{UPLOAD_DIR}")
        os.rmdir(folder)
    except OSError:  # the script left something (or took something away)
        shutil.rmtree(path, ignore_errors=True)


def _owner_alive(name: str) -> bool:
    """Whether the process that made ``<pid>.<start time>-…`` (or, from older versions,
    ``<pid>-…``) may still use it; a reused pid with another start time is not it."""
    tag = name.split("-", 1)[0]
    pid, _, started = tag.partition(".")
    if not pid.isdigit():
        return True  # not ours; leave it alone
    if started:
        return owner_alive(pid, started)
    return int(pid) == os.getpid() or processes.exists(int(pid))


_REMOVER = _Remover()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_REMOVER._reset)


def _at_exit() -> None:
    """Remove the directories made ahead for runs that will not come, then finish every
    removal (a normal exit or Ctrl+C)."""
    for stage in list(_STAGES):
        stage.close()
    _REMOVER.at_exit()
    with contextlib.suppress(OSError):
        (default_root("stage") / owner_tag()).rmdir()


atexit.register(_at_exit)


def remove(path: Path, made: Iterable[str] = (), *, wake: bool = True) -> None:
    """Make ``path`` vanish now; its contents are deleted in the background (see
    :meth:`_Remover.remove`)."""
    _REMOVER.remove(path, made, wake=wake)


def wake() -> None:
    """Start the cleanup thread on what was handed over with ``wake=False``."""
    _REMOVER.wake()


def discard(staged: Staged) -> None:
    """Remove (in the background) what is left of a set made ahead that a run did not use."""
    _REMOVER.submit(lambda: _discard(staged))


def wait_for_removals(timeout: float | None = None) -> bool:
    """Wait until the working directories of finished runs are deleted from disk.

    They vanish from the work root when the run ends; this waits for the disk space, e.g.
    before a test measures it or a program exits (``Emulator.close`` calls it).
    """
    return _REMOVER.wait(timeout)


@dataclass(frozen=True)
class Staged:
    """Directories made ahead for one run, in this process's stage folder."""

    roots: tuple[Path, Path]
    #: Becomes the working directory; holds ``.upload_files`` already.
    workdir: Path
    #: Becomes SHARED_DIR; None where the shared root is on another file system.
    shared: Path | None
    #: Files in the working directory (HOME), by name: what hooks placed in the previous run.
    files: dict[str, bytes] = field(default_factory=dict)


#: Every :class:`Stage` of this process (its sets are removed at exit).
_STAGES: weakref.WeakSet[Stage] = weakref.WeakSet()
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"  # tempfile.mkdtemp's
_names: list[tuple[int, random.Random]] = []


def _stage_root() -> Path:
    """``<tmp>/sss-emulator-<uid>/stage/<owner tag>``, made and checked."""
    return checked_root(default_root("stage") / owner_tag())


def random_name() -> str:
    """Eight characters as ``tempfile.mkdtemp`` picks them (a generator per process)."""
    pid = os.getpid()
    if not _names or _names[0][0] != pid:
        _names[:] = [(pid, random.Random())]
    return "".join(_names[0][1].choices(_NAME_CHARS, k=8))


def write_file(path: Path, data: bytes) -> None:
    """``path.write_bytes(data)`` in three system calls: a file of mode 0666 less the umask,
    truncated if it exists. Never through a symbolic link: a home skeleton may hold a link to
    the user's own ``.pylinkahead.ini``, and a run's copy of it must not change that file; the
    link is replaced by a file of the run's own."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        os.unlink(path)
        fd = os.open(path, flags | os.O_EXCL, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _discard(staged: Staged) -> None:
    """Remove a set nobody will use (what was made; a tree only if something else got in)."""
    for name in staged.files:
        with contextlib.suppress(OSError):
            os.unlink(staged.workdir / name)
    for path in (staged.workdir / UPLOAD_DIR, staged.workdir, staged.shared):
        if path is not None:
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError:
                shutil.rmtree(path, ignore_errors=True)


class Stage:
    """The next run's directories, made ahead off the critical path: one set per emulator.

    Making a directory costs 0.1-0.25 ms on some ext4 set-ups, and a run needs three (its
    working directory, ``.upload_files`` in it, SHARED_DIR): together more than half of what a
    shell script's whole run costs there. From an emulator's second run on, the cleanup thread
    makes the next run's set after each run, in this process's private stage folder
    (``<tmp>/sss-emulator-<uid>/stage/<owner tag>``); the next run renames them into place under
    names made as before (one cheap system call each). Only where the work root lies on the
    stage folder's file system (and for SHARED_DIR, the shared root); elsewhere, and whenever
    no set is ready, the run makes its directories itself as before. The files hooks placed in
    the previous run's HOME (the stand-in's ``.pylinkahead.ini``: one more file creation, as
    dear as a directory) are made with the set, without a home skeleton only; a hook placing
    the same bytes again writes nothing, and one made ahead that no hook placed is removed
    before the script starts (:class:`~sss_emulator.core.workspace.Workspace`). What a script
    sees is the same: the same names, modes and contents. An unused set is removed when the
    emulator closes or is collected and at exit; a killed process's by the next cleanup thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: Staged | None = None
        self._pending = False
        self._runs = 0
        self._closed = False
        #: What hooks placed in the last run's HOME: the next set's files.
        self._files: dict[str, bytes] = {}
        #: Roots whose file system the stage folder is not on.
        self._elsewhere: set[tuple[Path, Path]] = set()
        self._pid = os.getpid()
        _STAGES.add(self)

    def take(self, work_root: Path, shared_root: Path) -> Staged | None:
        """The set made for these roots, if one is ready (it is then the caller's)."""
        with self._lock:
            staged, self._ready = self._ready, None
        if staged is None:
            return None
        if staged.roots != (work_root, shared_root) or self._pid != os.getpid():
            if self._pid == os.getpid():
                discard(staged)
            return None
        return staged

    def ran(self, work_root: Path, shared_root: Path,
            files: Mapping[str, bytes] | None = None, *, wake: bool = True) -> None:
        """A run in these roots ended: from the second on, make the next one's set, with
        ``files`` (what hooks placed in its HOME) in its working directory (``wake=False``:
        once :func:`wake` is called)."""
        roots = (work_root, shared_root)
        with self._lock:
            self._runs += 1
            self._files = dict(files or {})
            if (self._runs < 2 or self._pending or self._ready is not None or self._closed
                    or roots in self._elsewhere or self._pid != os.getpid()):
                return
            self._pending = True
        _REMOVER.submit(lambda: self._make(roots), wake=wake)

    def _make(self, roots: tuple[Path, Path]) -> None:
        """Make a set (in the cleanup thread)."""
        with self._lock:
            files = self._files
        staged = None
        try:
            root = _stage_root()
            device = os.stat(root).st_dev
            if os.stat(roots[0]).st_dev == device:
                staged = Staged(roots, Path(tempfile.mkdtemp(dir=root)), None, files)
                os.mkdir(staged.workdir / UPLOAD_DIR, 0o700)
                for name, data in files.items():
                    write_file(staged.workdir / name, data)
                if os.stat(roots[1]).st_dev == device:
                    shared = Path(tempfile.mkdtemp(dir=root, suffix=".shared"))
                    staged = dataclasses.replace(staged, shared=shared)
        except (OSError, SetupError) as exc:
            logger.debug("no directories made ahead: %s", exc)
            if staged is not None:
                shutil.rmtree(staged.workdir, ignore_errors=True)
            staged = None
        with self._lock:
            self._pending = False
            if staged is None:
                self._elsewhere.add(roots)
            elif not self._closed and self._ready is None:
                self._ready, staged = staged, None
        if staged is not None:
            _discard(staged)

    def close(self) -> None:
        """Remove the set made ahead, if any (in the cleanup thread); make no more."""
        with self._lock:
            self._closed = True
            staged, self._ready = self._ready, None
        if staged is not None and self._pid == os.getpid():
            discard(staged)


def into_place(staged: Staged, work_root: Path) -> Path | None:
    """The staged working directory renamed to ``call-<owner>-<random>`` in the work root, as
    ``mkdtemp`` would have named it; None if that failed (the run makes its own)."""
    try:
        for _ in range(100):
            workdir = work_root / f"call-{owner_tag()}-{random_name()}"
            if not os.path.lexists(workdir):  # rename would replace an empty directory
                os.rename(staged.workdir, workdir)
                return workdir
    except OSError as exc:
        logger.debug("a working directory made ahead could not be used: %s", exc)
    discard(staged)
    return None


def make_shared(staged: Staged | None, shared_dir: Path) -> None:
    """SHARED_DIR: the staged one renamed into place, else made (mode 0700 either way)."""
    if staged is not None and staged.shared is not None:
        try:
            os.rename(staged.shared, shared_dir)
            return
        except OSError as exc:
            logger.debug("a SHARED_DIR made ahead could not be used: %s", exc)
            shutil.rmtree(staged.shared, ignore_errors=True)
    shared_dir.mkdir(mode=0o700)


