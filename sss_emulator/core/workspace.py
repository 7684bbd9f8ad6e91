"""The per-call directories: a fresh HOME/cwd with the skeleton and uploads, and SHARED_DIR.

Everything here is created ``0o700`` below a root the caller chose; the working directory is
removed in ``finally`` whatever happened (success, failure, timeout, exception, Ctrl+C), unless
the caller asked to keep it. SHARED_DIR is kept: the server serves its files after the script has
ended. What can wait is done in the background (:mod:`sss_emulator.core.background`): deleting
a finished run's directory, and making the next run's.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sss_emulator import decisions
from sss_emulator.core.background import (
    Stage,
    discard,
    into_place,
    make_shared,
    random_name,
    remove,
    wait_for_removals,
    wake,
    write_file,
)
from sss_emulator.core.call import UPLOAD_DIR, Upload, check_upload_name
from sss_emulator.core.roots import (
    checked_root,
    default_root,
    mark_kept,
    owner_tag,
    sweep_dead_runs,
)
from sss_emulator.errors import SetupError
from sss_emulator.logs import Logger

__all__ = ("KEPT_NOTE", "Stage", "Workspace", "default_root", "kept_workdir",
           "list_shared_files", "wait_for_removals", "workspace")

#: The note a kept run's interrupt carries (``--keep`` and Ctrl+C): the CLI names the folder.
KEPT_NOTE = "kept working directory "

logger = Logger("sss_emulator.core.workspace")


@dataclass(frozen=True)
class Workspace:
    """The directories of one run.

    Hooks write files into HOME with :meth:`place` and read what is there with
    :meth:`read_home`, so that the next run's files can be made ahead with the directories (see
    :class:`~sss_emulator.core.background.Stage`): a file made ahead with the same bytes is
    not written again.
    """

    workdir: Path
    shared_dir: Path
    keep: bool
    #: Files made ahead in HOME that no hook has placed in this run yet, with their bytes.
    made_ahead: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)
    #: What hooks placed in HOME in this run.
    placed: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    @property
    def home(self) -> Path:
        """HOME: the working directory itself, unless the decision says otherwise."""
        if decisions.HOME_IS_WORKDIR:
            return self.workdir
        return self.workdir.with_name(self.workdir.name + "-home")

    @property
    def upload_dir(self) -> Path:
        return self.workdir / UPLOAD_DIR

    def read_home(self, name: str) -> str | None:
        """The text of ``HOME/name`` as this run has it (the skeleton's copy, or what a hook
        placed), or None: never a file made ahead that no hook has placed yet."""
        path = self.home / name
        if name in self.made_ahead:
            current = _read_bytes(path)
            if current == self.made_ahead[name]:
                return None
            del self.made_ahead[name]  # rewritten in this run (a hook that writes by path)
            return None if current is None else current.decode("utf-8")
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def place(self, name: str, data: bytes) -> None:
        """Write ``HOME/name`` (as ``write_bytes`` would), unless it was made ahead with
        exactly these bytes and still holds them."""
        path = self.home / name
        if self.made_ahead.pop(name, None) != data or _read_bytes(path) != data:
            write_file(path, data)
        self.placed[name] = data

    def settle(self) -> None:
        """Remove the files made ahead that no hook placed in this run (the emulator calls it
        after the hooks, before the script starts), unless something else rewrote them."""
        for name, data in self.made_ahead.items():
            path = self.home / name
            with contextlib.suppress(OSError):
                if path.read_bytes() == data:
                    path.unlink()
        self.made_ahead.clear()


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def _make_workdir(work_root: Path) -> Path:
    """``tempfile.mkdtemp(prefix=f"call-{owner_tag()}-", dir=work_root)``: the same directory
    (mode 0700, eight of mkdtemp's characters, a new name on a clash), without its generality."""
    prefix = f"{os.path.abspath(work_root)}/call-{owner_tag()}-"
    for _ in range(tempfile.TMP_MAX):
        path = prefix + random_name()
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        return Path(path)
    raise FileExistsError(errno.EEXIST, f"No free working directory name in {work_root}")


def _copy_skeleton(skeleton: Path | None, target: Path) -> None:
    if skeleton is None:
        return
    if not skeleton.is_dir():
        raise SetupError(
            f"Home skeleton {skeleton} is not a directory; create it or point --home elsewhere."
        )
    shutil.copytree(skeleton, target, symlinks=True, dirs_exist_ok=True)


def _place_uploads(uploads: Sequence[Upload], upload_dir: Path, *, made: bool = False) -> None:
    if not made:
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
    stage: Stage | None = None,
) -> Iterator[Workspace]:
    """Create the run's directories, yield them, and remove the working dir afterwards.

    With a ``stage``, directories made ahead are used when ready, and the next run's are made
    after this one (see :class:`Stage`).
    """
    try:
        sweep_dead_runs(checked_root(work_root))  # once per process: what SIGKILLed runs left
    except OSError as exc:
        raise SetupError(f"Cannot create a working directory in {work_root}: {exc}") from exc
    shared_dir = checked_root(shared_root) / decisions.shared_dir_name()
    staged = stage.take(work_root, shared_root) if stage is not None else None
    try:
        workdir = into_place(staged, work_root) if staged is not None else None
        if workdir is None:
            staged = None  # into_place handed it to the cleanup
            workdir = _make_workdir(work_root)
    except OSError as exc:
        raise SetupError(f"Cannot create a working directory in {work_root}: {exc}") from exc
    made_ahead = dict(staged.files) if staged is not None else {}
    ws = Workspace(workdir=workdir, shared_dir=shared_dir, keep=keep, made_ahead=made_ahead)
    try:
        if ws.home != workdir:
            ws.home.mkdir(mode=0o700, exist_ok=True)
        if skeleton is not None and made_ahead:  # HOME is the skeleton's copy alone
            for name in made_ahead:
                (workdir / name).unlink()
            made_ahead.clear()
        _copy_skeleton(skeleton, ws.home)
        _place_uploads(uploads, workdir / UPLOAD_DIR, made=staged is not None)
        make_shared(staged, shared_dir)
        staged = None
        yield ws
    except OSError as exc:
        raise SetupError(f"Cannot prepare the working directory {workdir}: {exc}") from exc
    except KeyboardInterrupt as exc:  # Ctrl+C, SIGTERM: a kept folder is kept; say where
        if keep:
            exc.add_note(f"{KEPT_NOTE}{workdir}")
        raise
    finally:
        # The cleanup thread is woken once both are handed over: the rename out of the work
        # root does not compete with it, and it makes the next run's set before deleting.
        try:
            if staged is not None:  # the run failed before using its SHARED_DIR
                discard(staged)
            if stage is not None:
                stage.ran(work_root, shared_root,
                          ws.placed if skeleton is None and ws.home == workdir else None,
                          wake=False)
            if keep:
                mark_kept(workdir)
                logger.info("kept working directory %s", workdir)
            elif ws.home == workdir:
                remove(workdir, ws.placed, wake=False)
            else:
                remove(workdir, wake=False)
                remove(ws.home, wake=False)
        finally:
            wake()


def kept_workdir(interrupt: BaseException) -> str | None:
    """The working directory an interrupted ``--keep`` run kept, if it got that far."""
    for note in getattr(interrupt, "__notes__", ()):
        if note.startswith(KEPT_NOTE):
            return str(note[len(KEPT_NOTE):])
    return None


def list_shared_files(shared_dir: Path) -> dict[str, Path]:
    """Files a script left in SHARED_DIR, by their path relative to it (``/`` separated)."""
    if not shared_dir.is_dir():
        return {}
    return {
        path.relative_to(shared_dir).as_posix(): path
        for path in sorted(shared_dir.rglob("*"))
        if path.is_file()
    }
