"""``sss-emulate pull``: bring the user's data model and a slice of real data home.

What a script was written against lives on the user's server: its RecordTypes and Properties and
the records it looks up. :func:`pull` reads them through the entity API a script itself uses
(``GET Entity/?query=…&P=<start>L<length>``, ``GET Entity/<id>%26<id>…``,
``GET FileSystem/<path>``) and writes the server's own XML, ids kept, which ``--data`` loads as
is. Only ``GET`` requests follow the login: pulling changes nothing on the server.

The work is streamed: entities are written as their page arrives, so memory holds one page, the
ids seen so far and the ids still to fetch, never the pulled data. The file appears under its
name only when the pull is complete (written beside it, then linked into place).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Protocol
from urllib.parse import quote

from lxml import etree

from sss_emulator.backend.model import ROLES, is_reference_datatype
from sss_emulator.errors import ConfigError

__all__ = (
    "FILES_MARKER",
    "EntitySource",
    "PullError",
    "PullOptions",
    "PullSummary",
    "Redactor",
    "SeedWriter",
    "ServerSource",
    "check_queries",
    "files_folder",
    "pull",
)

#: A file inside ``<seed>.files/`` that says pull made the folder (so ``--force`` may replace it).
FILES_MARKER = ".sss-pull"

#: Children of an entity that describe the server's answer, not the entity: left out of a seed.
_ANSWER_ONLY = frozenset({"Version", "Permissions", "Permission", "Error", "Warning", "Info",
                          "History", "Query"})
_CHUNK = 64 * 1024


class PullError(ConfigError):
    """The pull cannot go on: the message names what the server said and what to do."""


@dataclass(frozen=True)
class PullOptions:
    """What to pull and how much.

    Args:
        queries: ``FIND``/``SELECT``-free queries whose entities are pulled (``FIND Sample``).
        depth: how many reference hops from the queried entities are followed; references
            beyond it are emptied (and counted) so the seed still loads.
        files: also download the contents of File entities (metadata is always pulled).
        max_file_bytes: a File larger than this keeps its metadata only.
        max_total_file_bytes: contents stop being downloaded once this much was written.
        redact: names of properties whose text values become stable placeholders.
        page_size: entities per query page; large pulls never ask for everything at once.
        batch_size: ids per ``GET Entity/<id>%26…`` when following references.
    """

    queries: tuple[str, ...] = ()
    depth: int = 1
    files: bool = False
    max_file_bytes: int = 10 * 1024 * 1024
    max_total_file_bytes: int = 100 * 1024 * 1024
    redact: tuple[str, ...] = ()
    page_size: int = 100
    batch_size: int = 50


@dataclass
class PullSummary:
    """What a pull wrote, for the closing line."""

    model: int = 0
    entities: int = 0
    files: int = 0
    file_bytes: int = 0
    skipped_files: list[str] = field(default_factory=list)
    emptied_references: int = 0
    redacted_values: int = 0


class EntitySource(Protocol):
    """Where entities come from: the user's server (:class:`ServerSource`) or a test's fake."""

    def query(self, text: str, start: int, length: int) -> tuple[int, list[etree._Element]]:
        """One page of a query's entities and the query's total number of results."""
        ...

    def retrieve(self, ids: Sequence[int]) -> list[etree._Element]:
        """The entities with these ids, in any order."""
        ...

    def download(self, path: str, limit: int) -> Iterator[bytes] | None:
        """A File's contents in chunks, or None when it is larger than ``limit`` bytes."""
        ...


# --------------------------------------------------------------------- the server
class _Getter(Protocol):
    def get(self, path: str, *, limit: int | None = None, renew: bool = False
            ) -> _AnswerLike: ...


class _AnswerLike(Protocol):
    @property
    def status(self) -> int: ...

    @property
    def body(self) -> bytes: ...


class ServerSource:
    """The entity API of a LinkAhead server, through a logged-in client (GET requests only)."""

    def __init__(self, client: _Getter) -> None:
        self._client = client

    def _document(self, path: str, what: str) -> etree._Element:
        answer = self._client.get(path, renew=True)
        root = _parse(answer.body, what)
        error = _first_error(root) if root is not None else None
        if answer.status == 401:
            raise PullError(f"the server asks for a login again while reading {what} (HTTP "
                            "401); the session ended: pull again.")
        if answer.status == 403:
            reason = error or "no permission"
            raise PullError(f"the server refused to show {what} (HTTP 403): {reason}; log in "
                            "as a user who may read it.")
        if root is None or answer.status != 200:
            detail = f": {error}" if error else ""
            raise PullError(f"the server answered HTTP {answer.status} for {what}{detail}; "
                            "check the URL (with its context root) and the server's log.")
        return root

    def query(self, text: str, start: int, length: int) -> tuple[int, list[etree._Element]]:
        root = self._document(f"/Entity/?query={quote(text, safe='')}&P={start}L{length}",
                              f"the query {text!r}")
        for child in root:
            if child.tag == "Error":
                reason = (child.get("description") or "an error").rstrip(". ")
                raise PullError(f"the server refused the query {text!r}: {reason}; fix the "
                                "query.")
        found = root.find("Query")
        total = int(found.get("results") or 0) if found is not None else 0
        return total, [child for child in root if child.tag in ROLES]

    def retrieve(self, ids: Sequence[int]) -> list[etree._Element]:
        joined = "%26".join(str(i) for i in ids)
        root = self._document(f"/Entity/{joined}", f"entities {_id_list(ids)}")
        return [child for child in root if child.tag in ROLES]

    def download(self, path: str, limit: int) -> Iterator[bytes] | None:
        answer = self._client.get("/FileSystem/" + quote(path.lstrip("/")), limit=limit,
                                  renew=True)
        if answer.status != 200:
            raise PullError(f"the server answered HTTP {answer.status} for the contents of "
                            f"{path}; pull without --files, or check that the file is there.")
        if len(answer.body) > limit:
            return None
        body = answer.body
        return iter([body[i:i + _CHUNK] for i in range(0, len(body), _CHUNK)] or [b""])


def _parse(body: bytes, what: str) -> etree._Element | None:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    try:
        return etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError:
        return None


def _first_error(root: etree._Element) -> str | None:
    found = root.find("Error")
    return found.get("description") if found is not None else None


def _id_list(ids: Sequence[int]) -> str:
    shown = ", ".join(str(i) for i in list(ids)[:5])
    return shown + (", …" if len(ids) > 5 else "")


# --------------------------------------------------------------------- redaction
class Redactor:
    """Replaces the text values of the named properties with stable placeholders.

    The same value gets the same placeholder everywhere in one seed, whichever redacted
    property holds it (``email-1`` wherever the first e-mail address was), so a script that
    looks a record up by such a value still finds it. Placeholders are numbered, not hashed: a
    hash of an e-mail address can be reversed by trying addresses.
    """

    def __init__(self, names: Iterable[str]) -> None:
        self._names = {name.casefold(): name for name in names}
        self._seen: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        self.replaced = 0

    def __bool__(self) -> bool:
        return bool(self._names)

    def _placeholder(self, name: str, value: str) -> str:
        if value not in self._seen:
            label = self._names[name.casefold()]
            count = self._counts.get(label, 0) + 1
            self._counts[label] = count
            self._seen[value] = f"{label}-{count}"
        self.replaced += 1
        return self._seen[value]

    def apply(self, entity: etree._Element) -> None:
        """Redact ``entity`` in place: its own value if it is such a Property, and its
        properties' values (nested ones included)."""
        if not self._names:
            return
        if entity.tag == "Property" and (entity.get("name") or "").casefold() in self._names:
            self._redact_values(entity)
        for prop in entity.iter("Property"):
            if prop is entity:
                continue
            if (prop.get("name") or "").casefold() in self._names:
                self._redact_values(prop)

    def check(self, datatypes: dict[str, str]) -> None:
        """Refuse, before any record is written, a name the data model does not have (a typo
        would redact nothing) and a property whose values are not text."""
        for key, name in self._names.items():
            if key not in datatypes:
                raise PullError(f"--redact {name}: the server's data model has no property of "
                                "that name, so nothing would be redacted; check the spelling.")
            _text_only(name, datatypes[key] or "TEXT")

    def _redact_values(self, prop: etree._Element) -> None:
        name = prop.get("name") or ""
        holders = [v for v in prop if v.tag == "Value"] or [prop]
        if not any((h.text or "").strip() for h in holders):
            return
        _text_only(name, prop.get("datatype") or "TEXT")
        for holder in holders:
            if holder.text:
                holder.text = self._placeholder(name, holder.text)


def _text_only(name: str, datatype: str) -> None:
    inner = datatype.upper().removeprefix("LIST<").removesuffix(">")
    if inner != "TEXT":
        raise PullError(f"--redact {name}: its values are {datatype}, and only text values can "
                        "be replaced; leave it out of --redact.")


# --------------------------------------------------------------------- writing
def files_folder(output: Path) -> Path:
    """Where a seed's file contents go: ``seed.xml`` -> ``seed.files/`` beside it."""
    return output.with_name(output.stem + ".files")


def _contained(root: Path, server_path: str) -> Path:
    """The local place of a server file path below ``root``; refuses ``..`` and odd names."""
    parts = PurePosixPath(server_path).parts
    clean = [p for p in parts if p not in ("/", "")]
    if not clean or any(p in (".", "..") or "\0" in p for p in clean):
        raise PullError(f"the server names a file {server_path!r}, which cannot be saved "
                        "below the seed's folder; pull without --files.")
    return root.joinpath(*clean)


class SeedWriter:
    """Writes a seed beside its final name and puts it in place only when complete.

    ``output`` is never overwritten unless ``force``; its ``.files`` folder is replaced only if
    an earlier pull made it (it holds :data:`FILES_MARKER`). An aborted pull removes what it
    wrote and nothing else.
    """

    def __init__(self, output: Path, *, force: bool = False) -> None:
        self.output = output
        self.force = force
        self._files_final = files_folder(output)
        token = f"{os.getpid()}.{secrets.token_hex(4)}"
        self._part = output.with_name(f".{output.name}.{token}.part")
        self._files_part = output.with_name(f".{self._files_final.name}.{token}.part")
        self._stream: object | None = None
        self._files_made = False

    def check(self) -> None:
        """Refuse up front what :meth:`commit` would refuse, before anything is fetched."""
        if not self.output.parent.is_dir():
            raise PullError(f"{self.output.parent} is not a folder; create it or choose "
                            "another -o.")
        if self.output.is_dir():
            raise PullError(f"{self.output} is a folder; -o names the seed file to write, "
                            "e.g. -o seed.xml.")
        if self.output.suffix.lower() != ".xml":
            raise PullError(f"{self.output.name}: a seed is server XML; name it *.xml so "
                            "--data reads it as such.")
        if (self.output.exists() or self.output.is_symlink()) and not self.force:
            raise PullError(f"{self.output} exists; add --force to replace it, or choose "
                            "another -o.")
        old = self._files_final
        if (old.exists() or old.is_symlink()) and not (
                old.is_dir() and not old.is_symlink() and (old / FILES_MARKER).is_file()):
            raise PullError(f"{old} exists and was not made by sss-emulate pull; move it away "
                            "or choose another -o.")
        if old.exists() and not self.force:
            raise PullError(f"{old} exists; add --force to replace it, or choose another -o.")

    def __enter__(self) -> SeedWriter:
        self.check()
        fd = os.open(self._part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        self._file = os.fdopen(fd, "wb")
        self._file.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<Response>\n')
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is not None:
            self.abort()

    def entity(self, elem: etree._Element) -> None:
        """Append one entity element."""
        self._file.write(etree.tostring(elem, encoding="UTF-8") + b"\n")

    def contents(self, server_path: str, chunks: Iterable[bytes]) -> int:
        """Save one file's contents below the staged ``.files`` folder; returns its size."""
        if not self._files_made:
            self._files_part.mkdir(mode=0o777)
            (self._files_part / FILES_MARKER).write_text(
                "Made by sss-emulate pull: the contents of the File entities of "
                f"{self.output.name}.\n", encoding="utf-8")
            self._files_made = True
        target = _contained(self._files_part, server_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        size = 0
        with open(target, "xb") as out:
            for chunk in chunks:
                out.write(chunk)
                size += len(chunk)
        return size

    def commit(self) -> None:
        """Finish the XML and put the seed (and its files) under their names."""
        self._file.write(b"</Response>\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self.check()  # nothing appeared under the names meanwhile
        old_files = self._files_final
        if old_files.exists() and (self._files_made or self.force):
            shutil.rmtree(old_files)  # made by an earlier pull: check() saw the marker
        if self._files_made:
            os.rename(self._files_part, old_files)
        if self.force:
            os.replace(self._part, self.output)
        else:
            os.link(self._part, self.output)  # fails if the name appeared: never overwrite
            os.unlink(self._part)

    def abort(self) -> None:
        """Remove what this pull wrote (the staged file and folder), nothing else."""
        stream = getattr(self, "_file", None)
        if stream is not None and not stream.closed:
            stream.close()
        self._part.unlink(missing_ok=True)
        if self._files_made:
            shutil.rmtree(self._files_part, ignore_errors=True)


# --------------------------------------------------------------------- the pull
def _reference_values(prop: etree._Element) -> list[etree._Element]:
    """The elements holding a reference property's ids (the property or its ``Value``s)."""
    if not is_reference_datatype(prop.get("datatype")):
        return []
    values = [v for v in prop if v.tag == "Value"]
    return values or ([prop] if (prop.text or "").strip() else [])


def _as_id(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if re.fullmatch(r"-?\d+", text) else None


def _clean(entity: etree._Element) -> None:
    """Drop what describes the answer rather than the entity (versions, messages, …)."""
    for child in list(entity.iter()):
        if child is not entity and child.tag in _ANSWER_ONLY:
            parent = child.getparent()
            if parent is not None:
                parent.remove(child)


class _Pull:
    def __init__(self, source: EntitySource, writer: SeedWriter, options: PullOptions,
                 progress: Callable[[str], None]) -> None:
        self.source = source
        self.writer = writer
        self.options = options
        self.progress = progress
        self.redactor = Redactor(options.redact)
        self.summary = PullSummary()
        self.seen: set[int] = set()
        #: ids what was written uses as a property or a parent: the seed loads only with them
        self.structure: set[int] = set()

    def run(self) -> PullSummary:
        datatypes: dict[str, str] = {}
        for role, label in (("PROPERTY", "properties"), ("RECORDTYPE", "record types")):
            for elem in self._pages(f"FIND {role}", f"the data model ({label})"):
                if elem.tag == "Property" and elem.get("name"):
                    datatypes[str(elem.get("name")).casefold()] = elem.get("datatype") or ""
                self._write(elem, refs=None, known=None)
                self.summary.model += 1
        self.redactor.check(datatypes)
        pending: set[int] = set()
        for number, text in enumerate(self.options.queries, 1):
            label = f"query {number}/{len(self.options.queries)}"
            for elem in self._pages(text, label):
                self._write(elem, refs=pending, known=None if self.options.depth else self.seen)
        for level in range(1, self.options.depth + 1):
            pending -= self.seen
            if not pending:
                break
            last = level == self.options.depth
            current, pending = sorted(pending), set()
            known = self.seen | set(current) if last else None
            self._follow(current, level, refs=None if last else pending, known=known)
        self._complete_structure()
        self.summary.redacted_values = self.redactor.replaced
        return self.summary

    def _pages(self, text: str, label: str) -> Iterator[etree._Element]:
        start, total = 0, None
        size = self.options.page_size
        while total is None or start < total:
            total, page = self.source.query(text, start, size)
            yield from page
            start += size
            self.progress(f"{label}: {min(start, total)}/{total}")
            if not page:
                break

    def _complete_structure(self) -> None:
        """Fetch the Properties and parents that what was written uses but the model queries
        did not return (the user may not see them there): without them the seed does not
        load. One the server refuses ends the pull."""
        while missing := sorted(self.structure - self.seen):
            for offset in range(0, len(missing), self.options.batch_size):
                for elem in self.source.retrieve(missing[offset:offset + self.options.batch_size]):
                    errors = [c for c in elem if c.tag == "Error"]
                    if errors:
                        raise PullError(
                            f"entity {elem.get('id')} is a property or parent of what was "
                            "pulled, but the server refused it: "
                            f"{errors[0].get('description') or 'an error'}; pull as a user "
                            "who may read the whole data model.")
                    self._write(elem, refs=None, known=None)
                    self.summary.model += 1
            self.structure -= set(missing)  # whatever the server did not return stays out

    def _follow(self, ids: list[int], level: int, refs: set[int] | None,
                known: set[int] | None) -> None:
        size = self.options.batch_size
        for offset in range(0, len(ids), size):
            batch = ids[offset:offset + size]
            found = self.source.retrieve(batch)
            for elem in found:
                errors = [c for c in elem if c.tag == "Error"]
                if errors:
                    smaller = f", or with --depth {level - 1}" if level > 1 else ""
                    raise PullError(
                        f"entity {elem.get('id')} is referenced by what was pulled, but the "
                        f"server refused it: {errors[0].get('description') or 'an error'}; "
                        f"pull as a user who may read it{smaller}.")
                self._write(elem, refs=refs, known=known)
            self.progress(f"references, hop {level}: {min(offset + size, len(ids))}/{len(ids)}")

    def _write(self, elem: etree._Element, refs: set[int] | None,
               known: set[int] | None) -> None:
        """Write one entity once; collect the ids it refers to (``refs``), or, on the last hop,
        empty the references that point outside ``known``."""
        entity_id = _as_id(elem.get("id"))
        if entity_id is None or entity_id in self.seen:
            return
        self.seen.add(entity_id)
        _clean(elem)
        self.redactor.apply(elem)
        for used in (*elem.iter("Property"), *elem.iter("Parent")):
            target = _as_id(used.get("id"))
            if used is not elem and target is not None and target not in self.seen:
                self.structure.add(target)
        for prop in elem.iter("Property"):
            for holder in _reference_values(prop):
                target = _as_id(holder.text)
                if target is None:
                    continue
                if known is not None and target not in known:
                    self.summary.emptied_references += 1
                    if holder is prop:
                        prop.text = None
                    else:
                        prop.remove(holder)
                elif refs is not None and target not in self.seen:
                    refs.add(target)
        for parent in elem.iter("Parent"):
            target = _as_id(parent.get("id"))
            if target is not None and target not in self.seen and refs is not None:
                refs.add(target)
        self.writer.entity(elem)
        if elem.tag != "Property" and elem.tag != "RecordType":
            self.summary.entities += 1
        if elem.tag == "File" and self.options.files:
            self._contents(elem)

    def _contents(self, elem: etree._Element) -> None:
        path = elem.get("path")
        if not path:
            return
        size = _as_id(elem.get("size"))
        left = self.options.max_total_file_bytes - self.summary.file_bytes
        limit = min(self.options.max_file_bytes, left)
        if size is not None and size > limit:
            self.summary.skipped_files.append(path)
            return
        chunks = self.source.download(path, limit)
        if chunks is None:
            self.summary.skipped_files.append(path)
            return
        self.summary.file_bytes += self.writer.contents(path, chunks)
        self.summary.files += 1


def check_queries(queries: Iterable[str]) -> None:
    """Refuse, before anything is asked, what pull cannot turn into a seed: a query that is
    not ``FIND`` (``SELECT`` leaves properties out, ``COUNT`` returns no entities) and ``FIND
    ANY VERSION OF`` (old versions share their entity's id; a seed holds one entity per id)."""
    for text in queries:
        words = text.split()
        if not words or words[0].upper() != "FIND":
            raise PullError(f"{text!r}: pull takes FIND queries (SELECT and COUNT return no "
                            "whole entities); write it as FIND ….")
        if [w.upper() for w in words[1:3]] == ["ANY", "VERSION"]:
            raise PullError(f"{text!r}: a seed holds the current version of each entity; "
                            "leave out ANY VERSION OF.")


def pull(source: EntitySource, writer: SeedWriter, options: PullOptions,
         progress: Callable[[str], None] = lambda _line: None) -> PullSummary:
    """Pull the model, the queries' entities and what they reference into ``writer``.

    The caller opens ``writer`` (``with writer:``) and commits it when this returns; any
    exception leaves nothing behind.
    """
    return _Pull(source, writer, options, progress).run()
