"""Golden files of a run: stdout, stderr, the XML response and SHARED_DIR, beside the tests.

``sss_snapshot(outcome)`` (or ``snapshot: true`` in a call file) compares a run with the files
under ``__sss_snapshots__/<test module>/<test name>/`` next to the test::

    stdout.txt   stderr.txt   response.xml   shared/<every file the script left in SHARED_DIR>

The comparison (placeholders for tokens, paths, times; one diff per file) is
:mod:`sss_emulator.devtools.snapshots`; this module names the folders, adds pytest's temporary
root and the rootdir as placeholders, and reads ``--sss-update-snapshots``. A missing snapshot
fails until then, so a CI run never invents its own expectations.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sss_emulator.core.outcome import RunOutcome
from sss_emulator.devtools.snapshots import (
    LAYOUT,
    MANIFEST,
    SnapshotMismatch,
    Snapshots,
    normalise_text,
)

__all__ = ("SNAPSHOT_DIR", "SnapshotMismatch", "SnapshotNameError", "Snapshots",
           "add_snapshot_options", "checked_name", "normalise_text", "sss_snapshot")

#: The folder beside the tests that holds every snapshot.
SNAPSHOT_DIR = "__sss_snapshots__"


def add_snapshot_options(parser: pytest.Parser) -> None:
    parser.getgroup("sss-emulator").addoption(
        "--sss-update-snapshots", action="store_true", dest="sss_update_snapshots",
        default=False, help=f"write the golden files of sss_snapshot / call files' 'snapshot: "
                            f"true' ({SNAPSHOT_DIR}/ beside the tests) instead of comparing")


class SnapshotNameError(ValueError):
    """A snapshot name that would lead out of its test's folder (or onto its files)."""


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name).strip("_") or "_"


def checked_name(name: str, what: str, nested: bool = False) -> str:
    """``name`` as a folder name; :class:`SnapshotNameError` for ``.``/``..`` parts, which
    would resolve outside the test's folder, or (``nested``: a label inside a test's snapshot)
    a name that is one of the snapshot's own files."""
    parts = name.replace("\\", "/").split("/")
    safe = _safe(name)
    if "\x00" in name or any(part.strip() in (".", "..") for part in parts) or \
            safe.strip(".") == "" or (nested and safe in (*LAYOUT, MANIFEST, "shared")):
        raise SnapshotNameError(f"{what} {name!r} is refused as a snapshot name: '.', '..' "
                                "and the snapshot's own file names would leave its folder; use "
                                "a plain name such as 'next-year'.")
    return safe


def snapshot_folder(test_file: Path, test_name: str, label: str | None = None) -> Path:
    """``__sss_snapshots__/<module>/<test>[/<label>]`` beside ``test_file``; never outside it
    (:class:`SnapshotNameError` for a label such as ``..``; a test's node name is only made
    safe, since pytest chose it)."""
    folder = test_file.parent / SNAPSHOT_DIR / _safe(test_file.stem) / _safe(test_name)
    return folder / checked_name(label, "the name=", nested=True) if label is not None else folder


def snapshots_for(config: pytest.Config, folder: Path, basetemp: Path | None = None
                  ) -> Snapshots:
    """A :class:`Snapshots` with the session's update flag and path placeholders."""
    replacements = [(str(basetemp), "<TMP>")] if basetemp is not None else []
    replacements.append((str(config.rootpath), "<ROOT>"))
    return Snapshots(folder, bool(config.option.sss_update_snapshots), replacements,
                     adopt_layout=True)


class SnapshotFixture:
    """``sss_snapshot(outcome, name=None)``: compare a run with its golden files."""

    def __init__(self, request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> None:
        self._request = request
        self._basetemp = tmp_path_factory.getbasetemp()
        self._used: set[str] = set()

    def __call__(self, outcome: RunOutcome | None, name: str | None = None) -> None:
        __tracebackhide__ = True
        if not isinstance(outcome, RunOutcome):
            raise TypeError("sss_snapshot(outcome): pass the outcome of a run, e.g. "
                            "sss_snapshot(sss.run_server_side_script('x.py'))")
        key = name or ""
        if key in self._used:
            raise ValueError(f"sss_snapshot: a second snapshot in one test needs its own name= "
                             f"({name!r} used twice)")
        try:
            folder = snapshot_folder(self._request.path, self._request.node.name, name or None)
        except SnapshotNameError as error:
            raise SnapshotNameError(f"sss_snapshot: {error}") from None
        self._used.add(key)
        snapshots_for(self._request.config, folder, self._basetemp).check(outcome)


@pytest.fixture
def sss_snapshot(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> SnapshotFixture:
    """Compare a run with golden files in ``__sss_snapshots__/`` (``--sss-update-snapshots``)."""
    return SnapshotFixture(request, tmp_path_factory)
