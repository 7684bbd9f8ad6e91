"""The per-call directories: a fresh HOME/cwd with the skeleton and uploads, and SHARED_DIR.

Everything here is created ``0o700`` below a root the caller chose; the working directory is
removed in ``finally`` whatever happened (success, failure, timeout, exception, Ctrl+C), unless
the caller asked to keep it. SHARED_DIR is kept: the server serves its files after the script has
ended.

Removing is split in two so the caller does not wait for the file system: the directory is first
*renamed* into a private trash folder on the same file system (one cheap system call; from then
on it is gone from the work root and nobody can see or reuse it), and a background thread deletes
it. Deleting directories is what costs (on some ext4 set-ups several milliseconds per directory,
more than the script itself). :func:`wait_for_removals` waits for that thread (the emulator's
``close()`` and interpreter exit call it); where the trash is on another file system, or the
rename fails for any other reason, the directory is deleted on the spot as before.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sss_emulator import decisions
from sss_emulator.core import processes
from sss_emulator.core.call import UPLOAD_DIR, Upload, check_upload_name
from sss_emulator.core.roots import (
    OWNER_TAG,
    checked_root,
    mark_kept,
    private_dir,
    sweep_dead_runs,
)
from sss_emulator.errors import SetupError

__all__ = ("Workspace", "default_root", "list_shared_files", "wait_for_removals", "workspace")

logger = logging.getLogger("sss_emulator.core.workspace")


def default_root(kind: str) -> Path:
    """``<tmp>/sss-emulator-<uid>/<kind>``: private to this user, shared by their runs."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"sss-emulator-{uid}" / kind


def _private_dir(path: Path) -> Path:
    return private_dir(path)


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
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._queue: list[Path] = []
        self._busy = False
        self._thread: threading.Thread | None = None
        self._buckets: dict[int, Path] = {}
        self._intake = 0
        self._pid = os.getpid()
        self._names = itertools.count()
        self._swept = False

    def _bucket(self, index: int) -> Path:
        """Trash bucket ``index`` (0 or 1) of this process, made on first use."""
        if self._pid != os.getpid():  # a forked child: buckets of its own
            self._pid, self._buckets = os.getpid(), {}
        bucket = self._buckets.get(index)
        if bucket is None:
            bucket = _private_dir(default_root("trash") / f"{self._pid}-{index}")
            self._buckets[index] = bucket
        return bucket

    def remove(self, path: Path) -> None:
        """Make ``path`` vanish now; its contents are deleted in the background."""
        try:
            with self._lock:
                bucket = self._bucket(self._intake)
            target = bucket / f"{next(self._names)}-{path.name}"
            os.rename(path, target)
        except (OSError, SetupError):  # another file system, a vanished path, a bad trash
            shutil.rmtree(path, ignore_errors=True)
            return
        with self._lock:
            self._queue.append(target)
            self._changed.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="sss-cleanup",
                                                daemon=True)
                self._thread.start()

    def _work(self) -> None:
        if not self._swept:
            self._swept = True
            self._sweep_orphans()
        while True:
            with self._lock:
                self._busy = False
                self._changed.notify_all()
                if not self._queue:
                    self._changed.wait(self.LINGER_S)
                if not self._queue:
                    self._thread = None
                    self._changed.notify_all()
                    return
                batch, self._queue = self._queue, []
                self._intake ^= 1  # runs rename into the other bucket meanwhile
                self._busy = True
            for path in batch:
                shutil.rmtree(path, ignore_errors=True)

    def _sweep_orphans(self) -> None:
        """Queue what processes that died without cleaning up left in the trash."""
        try:
            entries = list(os.scandir(default_root("trash")))
        except OSError:
            return
        orphans = [Path(e.path) for e in entries if not _owner_alive(e.name)]
        with self._lock:
            self._queue.extend(orphans)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every directory handed over so far is deleted; False on timeout."""
        with self._lock:
            return self._changed.wait_for(lambda: not self._queue and not self._busy, timeout)

    def at_exit(self) -> None:
        """Finish the removals and take this process's (empty) buckets away."""
        if self.wait(timeout=60):
            for bucket in self._buckets.values():
                with contextlib.suppress(OSError):
                    bucket.rmdir()


def _owner_alive(name: str) -> bool:
    pid = name.split("-", 1)[0]
    if not pid.isdigit():
        return True  # not ours; leave it alone
    return int(pid) == os.getpid() or processes.exists(int(pid))


_REMOVER = _Remover()
atexit.register(_REMOVER.at_exit)


def wait_for_removals(timeout: float | None = None) -> bool:
    """Wait until the working directories of finished runs are deleted from disk.

    They vanish from the work root when the run ends; this waits for the disk space, e.g.
    before a test measures it or a program exits (``Emulator.close`` calls it).
    """
    return _REMOVER.wait(timeout)


@dataclass(frozen=True)
class Workspace:
    """The directories of one run."""

    workdir: Path
    shared_dir: Path
    keep: bool

    @property
    def home(self) -> Path:
        """HOME: the working directory itself, unless the decision says otherwise."""
        if decisions.HOME_IS_WORKDIR:
            return self.workdir
        return self.workdir.with_name(self.workdir.name + "-home")

    @property
    def upload_dir(self) -> Path:
        return self.workdir / UPLOAD_DIR


def _copy_skeleton(skeleton: Path | None, target: Path) -> None:
    if skeleton is None:
        return
    if not skeleton.is_dir():
        raise SetupError(
            f"Home skeleton {skeleton} is not a directory; create it or point --home elsewhere."
        )
    shutil.copytree(skeleton, target, symlinks=True, dirs_exist_ok=True)


def _place_uploads(uploads: Sequence[Upload], upload_dir: Path) -> None:
    upload_dir.mkdir(mode=0o700, exist_ok=True)
    for upload in uploads:
        name = check_upload_name(upload.filename)
        target = upload_dir / name
        try:
            shutil.copyfile(upload.source, target)
        except OSError as exc:
            raise SetupError(
                f"Cannot upload {upload.source}: {exc.strerror or exc}; check the file exists "
                "and is readable."
            ) from exc


@contextmanager
def workspace(
    *,
    skeleton: Path | None,
    uploads: Sequence[Upload],
    work_root: Path,
    shared_root: Path,
    keep: bool = False,
) -> Iterator[Workspace]:
    """Create the run's directories, yield them, and remove the working dir afterwards."""
    try:
        sweep_dead_runs(checked_root(work_root))  # once per process: what SIGKILLed runs left
        workdir = Path(tempfile.mkdtemp(prefix=f"call-{OWNER_TAG}-", dir=work_root))
    except OSError as exc:
        raise SetupError(f"Cannot create a working directory in {work_root}: {exc}") from exc
    shared_dir = checked_root(shared_root) / decisions.shared_dir_name()
    ws = Workspace(workdir=workdir, shared_dir=shared_dir, keep=keep)
    try:
        if ws.home != workdir:
            ws.home.mkdir(mode=0o700, exist_ok=True)
        _copy_skeleton(skeleton, ws.home)
        _place_uploads(uploads, workdir / UPLOAD_DIR)
        shared_dir.mkdir(mode=0o700)
        yield ws
    except OSError as exc:
        raise SetupError(f"Cannot prepare the working directory {workdir}: {exc}") from exc
    finally:
        if keep:
            mark_kept(workdir)
            logger.info("kept working directory %s", workdir)
        else:
            _REMOVER.remove(workdir)
            if ws.home != workdir:
                _REMOVER.remove(ws.home)


def list_shared_files(shared_dir: Path) -> dict[str, Path]:
    """Files a script left in SHARED_DIR, by their path relative to it (``/`` separated)."""
    if not shared_dir.is_dir():
        return {}
    return {
        path.relative_to(shared_dir).as_posix(): path
        for path in sorted(shared_dir.rglob("*"))
        if path.is_file()
    }
