"""Golden files of a run: stdout, stderr, the XML response and SHARED_DIR, as plain files.

One folder per snapshot::

    stdout.txt   stderr.txt   response.xml   shared/<every file the script left in SHARED_DIR>
    .sss-snapshot.json   (the manifest: the files above, which the snapshot wrote)

Plain files, one per stream, so a pull request shows a changed output as a readable diff.
A snapshot folder may be any folder (``--snapshot .`` is the project itself), so an update
replaces and removes only the files the manifest lists; a file it did not write is never
overwritten or deleted (the update is refused in one line), nothing is written through a
symbolic link, and a shared file the script left as a symbolic link is stored as a note, not
read through. A folder written before the manifest existed is adopted when it holds nothing but
the layout's files, or when it lies in the plugin's own ``__sss_snapshots__`` tree.

Before comparing (and writing), what differs from run to run is replaced by placeholders: the
auth token (also printed escaped, URL-quoted, spaced or as a list), the SHARED_DIR and working
directory paths and the random SHARED_DIR name, the bin dir, temporary roots, a local URL's
port, ISO timestamps, the response's ``timestamp`` and ``srid``, UUIDs. Used by the pytest
plugin (``sss_snapshot``, call files' ``snapshot: true``) and by ``sss-emulate --snapshot DIR``
(also in watch mode).
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sss_emulator.core.outcome import RunOutcome
from sss_emulator.core.printed_tokens import redact_printed_tokens

__all__ = ("LAYOUT", "MANIFEST", "SnapshotMismatch", "SnapshotRefused", "Snapshots",
           "normalise_text", "report_snapshot")

#: The manifest: which files of the folder the snapshot wrote (the only ones an update touches).
MANIFEST = ".sss-snapshot.json"
#: The files of a snapshot besides ``shared/…``.
LAYOUT = ("stdout.txt", "stderr.txt", "response.xml")
_SHARED = "shared"
_WRITTEN_BY = "sss-emulator snapshot"

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


class SnapshotRefused(SnapshotMismatch):
    """An update would overwrite or delete a file the snapshot did not write, or write through
    a symbolic link; the one-line message names the file and what to do. Nothing was written."""


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
    # the token printed escaped, quoted, as a list, …; its salt printed alone
    text = redact_printed_tokens(text, _token_parts(outcome.token))
    for pattern, placeholder in _PATTERNS:
        text = pattern.sub(placeholder, text)
    return text


def _token_parts(token: str | None) -> tuple[str, ...]:
    """The salt and checksum of the run's token (fields 8 and 9 of its JSON array)."""
    try:
        fields = json.loads(token or "")
    except ValueError:
        return ()
    if not isinstance(fields, list):
        return ()
    return tuple(str(part) for part in fields[7:9])


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
                 update_hint: str = "pytest --sss-update-snapshots",
                 adopt_layout: bool = False) -> None:
        self.folder = folder
        #: Without a manifest, the layout's files are the snapshot's even beside other files
        #: (the plugin's ``__sss_snapshots__`` tree, where named snapshots nest in a test's).
        self.adopt_layout = adopt_layout
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
            if path.is_symlink():  # never read through: it may point at any file of the user
                found.append(_Entry(f"shared/{name}", b"<symbolic link, not followed>\n"))
                continue
            data = path.read_bytes()
            decoded = _decoded(data)
            found.append(_Entry(f"shared/{name}", data if decoded is None else text(decoded)))
        return found

    # --- which files are the snapshot's ---------------------------------------------------------

    def _manifest(self) -> set[str] | None:
        """The names the manifest lists (checked to stay inside the layout), None without one.

        :class:`SnapshotRefused` when the manifest is a link or not a manifest.
        """
        path = self.folder / MANIFEST
        if path.is_symlink():
            raise SnapshotRefused(f"{path} is a symbolic link, not a snapshot manifest; remove "
                                  "it or choose another --snapshot folder.")
        if not path.exists():
            return None
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            names = document["files"]
            if document.get("written_by") != _WRITTEN_BY or not isinstance(names, list):
                raise ValueError(names)
        except (OSError, ValueError, TypeError, KeyError):
            raise SnapshotRefused(f"{path} is not a snapshot manifest of sss-emulator; remove "
                                  "it or choose another folder for the snapshot.") from None
        return {name for name in names if isinstance(name, str) and _in_layout(name)}

    def owned(self) -> set[str]:
        """The files of the folder this snapshot wrote: those its manifest lists; without a
        manifest (a snapshot of an older version), the layout's files when the folder holds
        nothing else (or lies in the plugin's own tree); else none."""
        listed = self._manifest()
        if listed is not None:
            return listed
        if not self.folder.is_dir():
            return set()
        present = self._present()
        layout = {name for name in present if _in_layout(name)}
        only_layout = all(
            name in LAYOUT or name == _SHARED for name in (p.name for p in self.folder.iterdir()))
        return layout if self.adopt_layout or (only_layout and present == layout) else set()

    def _present(self) -> set[str]:
        """Every file (and link) below the folder, as names relative to it."""
        return {path.relative_to(self.folder).as_posix()
                for path in self.folder.rglob("*") if not path.is_dir() or path.is_symlink()}

    def _stored(self, owned: set[str]) -> Iterator[tuple[str, bytes | None]]:
        """The snapshot's files with their content (None: a symbolic link, not read)."""
        for name in sorted(owned):
            path = self.folder / name
            if path.is_symlink() or _linked_parent(self.folder, name):
                yield name, None
            elif path.is_file():
                yield name, path.read_bytes()

    # --- writing ---------------------------------------------------------------------------------

    def write(self, outcome: RunOutcome) -> None:
        """Write the run: replace the snapshot's own files, remove those the run no longer
        produces, keep everything else; refuse (before writing anything) to overwrite a file
        the snapshot did not write or to write through a symbolic link."""
        if self.folder.exists() and not self.folder.is_dir():
            raise SnapshotRefused(f"{self.folder} is a file, not a folder; choose a folder for "
                                  "the snapshot.")
        owned = self.owned()
        entries = self.entries(outcome)
        produced = {entry.name for entry in entries}
        for name in sorted(produced | owned | {MANIFEST}):
            self._refuse_link(name)
        for name in sorted(produced):
            target = self.folder / name
            if target.exists() and name not in owned:
                raise SnapshotRefused(
                    f"{target} exists and was not written by this snapshot; nothing was "
                    "changed: move it away or choose an empty folder for the snapshot.")
            if target.is_dir():
                raise SnapshotRefused(f"{target} is a folder where the snapshot writes a file; "
                                      "move it away or choose another folder for the snapshot.")
            in_way = next((p for p in target.parents
                           if self.folder in p.parents and p.exists() and not p.is_dir()), None)
            if in_way is not None:
                raise SnapshotRefused(f"{in_way} is a file where the snapshot needs a folder; "
                                      "move it away or choose another folder for the snapshot.")
        self.folder.mkdir(parents=True, exist_ok=True)
        for entry in entries:
            _write_below(self.folder, entry.name, entry.data)
        for name in sorted(owned - produced):
            with contextlib.suppress(OSError):  # gone, or a folder now: left as it is
                _unlink_below(self.folder, name)
        manifest = {"written_by": _WRITTEN_BY,
                    "note": "the files this snapshot wrote; an update replaces only these",
                    "files": sorted(produced)}
        _write_below(self.folder, MANIFEST,
                     (json.dumps(manifest, indent=1, ensure_ascii=False) + "\n").encode())

    def _refuse_link(self, name: str) -> None:
        linked = _linked_parent(self.folder, name) or (
            self.folder / name if (self.folder / name).is_symlink() else None)
        if linked is not None:
            raise SnapshotRefused(f"{linked} is a symbolic link; a snapshot writes only plain "
                                  "files inside its folder: remove the link.")

    def check(self, outcome: RunOutcome) -> None:
        """Write with ``update``, else raise :class:`SnapshotMismatch` listing every diff."""
        __tracebackhide__ = True
        if self.update:
            self.write(outcome)
            return
        owned = self.owned() if self.folder.is_dir() else set()
        if not owned:
            raise SnapshotMismatch(f"no snapshot at {self.folder} yet; review the run and write "
                                   f"it with: {self.update_hint}")
        actual = {e.name: e.data for e in self.entries(outcome)}
        stored = dict(self._stored(owned))
        problems: list[str] = []
        if self.adopt_layout:  # a file put into the plugin's snapshot by hand is a difference
            problems += [f"{name}: in the snapshot folder, but not written by the snapshot "
                         f"({MANIFEST} does not list it, so no update removes it); move it away"
                         for name in sorted({n for n in self._present() if _in_layout(n)}
                                            - owned)]
        for name in sorted(set(stored) | set(actual)):
            if stored.get(name, b"") is None:
                problems.append(f"{name}: a symbolic link in the snapshot (not followed); "
                                "a snapshot holds plain files only")
            elif name not in actual:
                problems.append(f"{name}: in the snapshot, but the run did not produce it")
            elif name not in stored:
                problems.append(f"{name}: produced by the run, but not in the snapshot")
            elif (data := stored[name]) is not None and data != actual[name]:
                problems += _diff(name, data, actual[name])
        if problems:
            raise SnapshotMismatch("\n".join([
                f"the run of {outcome.call!r} differs from its snapshot {self.folder}:",
                *problems,
                f"(if the change is intended: {self.update_hint})"]))


def _in_layout(name: str) -> bool:
    """Is ``name`` a file a snapshot writes (and never a way out of its folder)?"""
    parts = name.split("/")
    if any(part in ("", ".", "..") or "\x00" in part or "\\" in part for part in parts):
        return False
    return name in LAYOUT or (len(parts) > 1 and parts[0] == _SHARED)


def _linked_parent(folder: Path, name: str) -> Path | None:
    """The first folder between ``folder`` and ``name`` that is a symbolic link, if any."""
    current = folder
    for part in name.split("/")[:-1]:
        current = current / part
        if current.is_symlink():
            return current
    return None


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


def _open_parent(folder: Path, name: str, create: bool) -> tuple[int, str]:
    """A descriptor of ``name``'s folder below ``folder``, opened one part at a time without
    following a link (so a link planted after the checks is not written through either)."""
    fd = os.open(folder, os.O_RDONLY | _DIRECTORY)
    parts = name.split("/")
    try:
        for part in parts[:-1]:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, dir_fd=fd)
            child = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd, parts[-1]


def _write_below(folder: Path, name: str, data: bytes) -> None:
    try:
        parent, leaf = _open_parent(folder, name, create=True)
        try:
            fd = os.open(leaf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW, 0o666,
                         dir_fd=parent)
        finally:
            os.close(parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise SnapshotRefused(f"{folder / name}: a symbolic link or file is in the way; "
                                  "a snapshot writes only plain files inside its folder.") from None
        raise
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _unlink_below(folder: Path, name: str) -> None:
    """Remove a file the snapshot wrote, and the folders it leaves empty (``shared/…``)."""
    parent, leaf = _open_parent(folder, name, create=False)
    try:
        os.unlink(leaf, dir_fd=parent)
    finally:
        os.close(parent)
    current = (folder / name).parent
    while current != folder:
        try:
            current.rmdir()
        except OSError:  # not empty: something else is in it
            return
        current = current.parent


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
