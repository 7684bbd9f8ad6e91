"""The per-call directories: a fresh HOME/cwd with the skeleton and uploads, and SHARED_DIR.

Everything here is created ``0o700`` below a root the caller chose; the working directory is
removed in ``finally`` whatever happened, unless the caller asked to keep it. SHARED_DIR is kept:
the server serves its files after the script has ended.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sss_emulator import decisions
from sss_emulator.core.call import UPLOAD_DIR, Upload, check_upload_name
from sss_emulator.errors import SetupError

__all__ = ("Workspace", "default_root", "list_shared_files", "workspace")

logger = logging.getLogger("sss_emulator.core.workspace")


def default_root(kind: str) -> Path:
    """``<tmp>/sss-emulator-<uid>/<kind>``: private to this user, shared by their runs."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"sss-emulator-{uid}" / kind


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.is_symlink():
        raise SetupError(f"{path} is a symlink; remove it so runs cannot be redirected elsewhere.")
    return path


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
        workdir = Path(tempfile.mkdtemp(prefix="call-", dir=_private_dir(work_root)))
    except OSError as exc:
        raise SetupError(f"Cannot create a working directory in {work_root}: {exc}") from exc
    shared_dir = _private_dir(shared_root) / decisions.shared_dir_name()
    ws = Workspace(workdir=workdir, shared_dir=shared_dir, keep=keep)
    try:
        ws.home.mkdir(mode=0o700, exist_ok=True)
        _copy_skeleton(skeleton, ws.home)
        _place_uploads(uploads, workdir / UPLOAD_DIR)
        shared_dir.mkdir(mode=0o700)
        yield ws
    except OSError as exc:
        raise SetupError(f"Cannot prepare the working directory {workdir}: {exc}") from exc
    finally:
        if keep:
            logger.info("kept working directory %s", workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            if ws.home != workdir:
                shutil.rmtree(ws.home, ignore_errors=True)


def list_shared_files(shared_dir: Path) -> dict[str, Path]:
    """Files a script left in SHARED_DIR, by their path relative to it (``/`` separated)."""
    if not shared_dir.is_dir():
        return {}
    return {
        path.relative_to(shared_dir).as_posix(): path
        for path in sorted(shared_dir.rglob("*"))
        if path.is_file()
    }
