"""Golden files of a run: stdout, stderr, the XML response and SHARED_DIR, as plain files.

One folder per snapshot::

    stdout.txt   stderr.txt   response.xml   shared/<every file the script left in SHARED_DIR>

Plain files, one per stream, so a pull request shows a changed output as a readable diff.
Before comparing (and writing), what differs from run to run is replaced by placeholders: the
auth token, the SHARED_DIR and working directory paths and the random SHARED_DIR name, the bin
dir, temporary roots, a local URL's port, ISO timestamps, the response's ``timestamp`` and
``srid``, UUIDs. Used by the pytest plugin (``sss_snapshot``, call files' ``snapshot: true``)
and by ``sss-emulate --snapshot DIR`` (also in watch mode).
"""

from __future__ import annotations

import difflib
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sss_emulator.core.outcome import RunOutcome

__all__ = ("SnapshotMismatch", "Snapshots", "normalise_text", "report_snapshot")

_PATTERNS = (
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"),
     "<TIMESTAMP>"),
    (re.compile(r'\btimestamp="\d+"'), 'timestamp="<TIMESTAMP>"'),
    (re.compile(r'\bsrid="[^"]*"'), 'srid="<SRID>"'),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
     "<UUID>"),
    (re.compile(r"\b(https?://(?:127\.0\.0\.1|localhost|\[::1\])):\d+"), r"\1:<PORT>"),
)


class SnapshotMismatch(AssertionError):
    """A run differs from its golden files; the message holds a diff per file."""


def normalise_text(text: str, outcome: RunOutcome, extra: Iterable[tuple[str, str]] = ()
                   ) -> str:
    """``text`` with everything that changes between two runs of the same call neutralised."""
    pairs: list[tuple[str, str]] = []
    if outcome.token:
        pairs.append((outcome.token, "<TOKEN>"))
    pairs += [(str(outcome.shared_dir), "<SHARED_DIR>"), (str(outcome.workdir), "<HOME>"),
              (outcome.shared_dir.name, "<SHARED_NAME>"), *extra]
    bin_dir = _bin_dir(outcome)
    if bin_dir:
        pairs.append((bin_dir, "<BIN_DIR>"))
    # longest first, so a path is replaced before a folder that contains it
    for old, new in sorted(pairs, key=lambda p: len(p[0]), reverse=True):
        if old:
            text = text.replace(old, new)
    for pattern, placeholder in _PATTERNS:
        text = pattern.sub(placeholder, text)
    return text


def _bin_dir(outcome: RunOutcome) -> str:
    """The bin dir the script was found in: its path (argv[0]) without the call."""
    script = outcome.argv[0] if outcome.argv else ""
    call = outcome.script_call
    if call and script.endswith("/" + call):
        return script[: -len(call) - 1]
    return ""


@dataclass(frozen=True)
class _Entry:
    name: str          # path below the snapshot folder, with / separators
    data: bytes


def _decoded(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


class Snapshots:
    """Compares outcomes with (or writes them to) one snapshot folder."""

    def __init__(self, folder: Path, update: bool, replacements: Iterable[tuple[str, str]] = (),
                 update_hint: str = "pytest --sss-update-snapshots") -> None:
        self.folder = folder
        self.update = update
        self.replacements = tuple(replacements)
        #: How the user writes the snapshot anew (named in every failure).
        self.update_hint = update_hint

    def entries(self, outcome: RunOutcome) -> list[_Entry]:
        def text(value: str) -> bytes:
            return normalise_text(value, outcome, self.replacements).encode("utf-8")

        found = [_Entry("stdout.txt", text(outcome.stdout_text)),
                 _Entry("stderr.txt", text(outcome.stderr_text)),
                 _Entry("response.xml", text(outcome.to_xml().decode("utf-8")))]
        for name, path in sorted(outcome.shared_files.items()):
            data = path.read_bytes()
            decoded = _decoded(data)
            found.append(_Entry(f"shared/{name}", data if decoded is None else text(decoded)))
        return found

    def _stored(self) -> Iterator[_Entry]:
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.rglob("*")):
            if path.is_file():
                yield _Entry(path.relative_to(self.folder).as_posix(), path.read_bytes())

    def write(self, outcome: RunOutcome) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        for entry in self.entries(outcome):
            target = self.folder / entry.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(entry.data)

    def check(self, outcome: RunOutcome) -> None:
        """Write with ``update``, else raise :class:`SnapshotMismatch` listing every diff."""
        __tracebackhide__ = True
        if self.update:
            self.write(outcome)
            return
        if not self.folder.is_dir():
            raise SnapshotMismatch(f"no snapshot at {self.folder} yet; review the run and write "
                                   f"it with: {self.update_hint}")
        actual = {e.name: e.data for e in self.entries(outcome)}
        stored = {e.name: e.data for e in self._stored()}
        problems: list[str] = []
        for name in sorted(set(stored) | set(actual)):
            if name not in actual:
                problems.append(f"{name}: in the snapshot, but the run did not produce it")
            elif name not in stored:
                problems.append(f"{name}: produced by the run, but not in the snapshot")
            elif stored[name] != actual[name]:
                problems += _diff(name, stored[name], actual[name])
        if problems:
            raise SnapshotMismatch("\n".join([
                f"the run of {outcome.call!r} differs from its snapshot {self.folder}:",
                *problems,
                f"(if the change is intended: {self.update_hint})"]))


def _diff(name: str, stored: bytes, actual: bytes) -> list[str]:
    old, new = _decoded(stored), _decoded(actual)
    if old is None or new is None:
        return [f"{name}: binary content differs ({len(stored)} bytes stored, "
                f"{len(actual)} bytes now)"]
    return [line.rstrip("\n") for line in difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True),
        fromfile=f"snapshot {name}", tofile=f"this run {name}")]


def report_snapshot(snapshots: Snapshots, outcome: RunOutcome,
                    write_line: Callable[[str], None]) -> bool:
    """Compare (or write) and tell a terminal user; False when the run differs or no snapshot
    is stored yet (``sss-emulate --snapshot DIR``, also after every run of watch mode)."""
    try:
        snapshots.check(outcome)
    except SnapshotMismatch as mismatch:
        lines = str(mismatch).splitlines()
        write_line(f"sss-emulate: snapshot: {lines[0]}")
        for line in lines[1:]:
            write_line(line)
        return False
    verb = "written to" if snapshots.update else "matches"
    write_line(f"sss-emulate: snapshot: {verb} {snapshots.folder}")
    return True
