"""The stand-in's database: entities, file contents, the indexes queries use, and what changed.

Inserts and updates are resolved the way the server resolves them (parents and properties given
by name only, temporary negative ids, reference values given by name) and are all-or-nothing: if
any entity of a request carries an error, nothing is stored and the entities come back with their
errors, which is what makes pylib raise a ``TransactionError``.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sss_emulator import decisions
from sss_emulator.backend import messages
from sss_emulator.backend.journal import (
    StoreWriteError,
    WriteJournal,
    failure_text,
    write_file_undoably,
)
from sss_emulator.backend.model import (
    Entity,
    Message,
    PropertyValue,
    Role,
    Value,
    Version,
    is_reference_datatype,
)
from sss_emulator.backend.sqlite_file import SqliteMirror
from sss_emulator.backend.transaction import Transaction, norm_path
from sss_emulator.backend.unchanged import same_content, unchanged_answer
from sss_emulator.backend.values import Key, typed_key, value_key
from sss_emulator.wire import parse_id

__all__ = ["Author", "Authorize", "EntityStore", "StoreWriteError", "postings", "value_key"]

Author = tuple[str, str]
"""``(username, realm)`` of whoever writes; versions and ``INSERTED BY`` queries record it."""

Authorize = Callable[[Entity, "Entity | None"], None]
"""Marks a resolved draft (and the stored entity it replaces, None for an insert) with the
errors of what its writer may not do."""

_SEED_AUTHOR: Author = (decisions.DEFAULT_USER, decisions.DEFAULT_REALM)

_log = logging.getLogger("sss_emulator.backend.store")

_FIRST_ID = 100
"""Ids below this belong to the server's built-in entities; user entities start here (U)."""


def _values(value: Value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [v for v in value if v is not None]
    return [value]


class EntityStore:
    """Entities in memory, optionally mirrored to a SQLite file so ``serve`` keeps them.

    Example::

        store = EntityStore()
        store.load("model.yml")
        store.changes  # {"inserted": [], "updated": [], "deleted": []}
    """

    def __init__(self, *, sqlite_path: str | Path | None = None) -> None:
        self.lock = threading.RLock()
        self._entities: dict[int, Entity] = {}
        self._history: dict[int, list[Entity]] = {}
        """Older versions of updated entities, oldest first (the head is in ``_entities``)."""
        self._blobs: dict[str, bytes] = {}
        self._next_id = _FIRST_ID
        self.revision = 0
        self.query_cache: dict[object, frozenset[int]] = {}
        """Derived data (query targets) valid until the next write; cleared by every write."""
        self.changes: dict[str, list[dict[str, Any]]] = {
            "inserted": [],
            "updated": [],
            "deleted": [],
        }
        self._reset_indexes()
        self._db: SqliteMirror | None = None
        self._journal: WriteJournal | None = None
        """How to take back the write in progress, if it fails (see :meth:`_writing`)."""
        self.file_root: Path | None = None
        """A folder that holds every stored file at its server path (see :meth:`keep_files_in`)."""
        self.sqlite_path = Path(sqlite_path) if sqlite_path is not None else None
        if sqlite_path is not None:
            self._open_sqlite(Path(sqlite_path))

    # ----------------------------------------------------------------- reading
    def get(self, entity_id: int) -> Entity | None:
        """The stored entity with this id (do not mutate it)."""
        return self._entities.get(entity_id)

    def versions_of(self, entity_id: int) -> list[Entity]:
        """Every version of an entity, oldest first; the last one is the head (empty: none)."""
        head = self._entities.get(entity_id)
        if head is None:
            return []
        return [*self._history.get(entity_id, ()), head]

    def updated_ids(self) -> set[int]:
        """Entities with more than one version (for ``ANY VERSION OF``)."""
        return set(self._history)

    def find_by_name(self, name: str) -> list[Entity]:
        """Entities with this name, compared case-insensitively like the server's collation (U)."""
        return [self._entities[i] for i in sorted(_get(self._by_name, name.lower()))]

    def __iter__(self) -> Iterator[Entity]:
        return iter([self._entities[i] for i in sorted(self._entities)])

    def __len__(self) -> int:
        return len(self._entities)

    def ids_with_role(self, role: Role) -> AbstractSet[int]:
        """Ids of all entities of one role."""
        return _get(self._by_role, role)

    def all_ids(self) -> set[int]:
        """Ids of all entities."""
        return set(self._entities)

    def name_keys(self) -> list[str]:
        """The distinct lower-cased names, as :meth:`match_names` passes them: a copy, so a
        query can match its ``<<regex>>`` against them without holding the lock."""
        with self.lock:
            return list(self._by_name)

    def match_names(self, matches: Callable[[str], bool]) -> set[int]:
        """Entities whose lower-cased name satisfies ``matches`` (wildcards, regexes)."""
        found: set[int] = set()
        for name, ids in self._by_name.items():
            if matches(name):
                found |= _get(self._by_name, name) if isinstance(ids, int) else ids
        return found

    def ids_with_property(self, name: str) -> AbstractSet[int]:
        """Entities that have a property of this name (case-insensitive)."""
        return _get(self._has_prop, name.lower())

    def ids_with_property_value(self, name: str, keys: Iterable[Key]) -> set[int]:
        """Entities with property ``name`` having a value with one of these keys
        (see :mod:`sss_emulator.backend.values`)."""
        index = self._values.get(name.lower())
        found: set[int] = set()
        if index:
            for key in keys:
                found |= _get(index, key)
        return found

    def values_of(self, name: str) -> Mapping[Key, AbstractSet[int] | int]:
        """Distinct stored values (keys) of property ``name`` -> entity ids (an int for one),
        for range filters; read with :func:`postings`."""
        return self._values.get(name.lower(), {})

    def children_of(self, entity_id: int) -> AbstractSet[int]:
        """Entities with this one as a direct parent."""
        return _get(self._children, entity_id)

    def name_of(self, entity_id: int | None) -> str | None:
        """Current name of an entity, for rendering parents and references."""
        entity = self._entities.get(entity_id) if entity_id is not None else None
        return entity.name if entity else None

    def ancestors(self, entity_id: int) -> frozenset[int]:
        """The entity and all its (transitive) parents."""
        return _closure(entity_id, self._parent_ids, self._ancestor_cache)

    def descendants(self, entity_id: int) -> frozenset[int]:
        """The entity and everything that inherits from it, directly or not."""
        return _closure(entity_id, self.children_of, self._descendant_cache)

    def _parent_ids(self, entity_id: int) -> list[int]:
        entity = self._entities.get(entity_id)
        return [] if entity is None else [p.id for p in entity.parents if p.id is not None]

    def referenced_by(self, entity_id: int) -> AbstractSet[int]:
        """Entities with a reference property whose value is this id."""
        return _get(self._referrers, entity_id)

    def path_owner(self, path: str) -> Entity | None:
        """The File entity stored at this server path, if any."""
        wanted = norm_path(path)
        return next((e for e in self._entities.values() if e.path == wanted), None)

    def read_blob(self, path: str) -> bytes | None:
        """Contents of an uploaded or seeded file, by its server path."""
        return self._blobs.get(norm_path(path))

    def counts(self) -> dict[str, int]:
        """Numbers for ``Info``'s ``Stats/counts``."""
        return {
            "records": len(self.ids_with_role("Record")),
            "recordTypes": len(self.ids_with_role("RecordType")),
            "properties": len(self.ids_with_role("Property")),
            "files": len(self.ids_with_role("File")),
        }

    def files_size(self) -> int:
        """Total bytes of stored files, for ``Info``'s ``fssize``."""
        return sum(e.size or 0 for i in self.ids_with_role("File") if (e := self._entities.get(i)))

    def reset_changes(self) -> None:
        """Forget recorded changes, e.g. between two script runs on one store."""
        with self.lock:
            self.changes = {"inserted": [], "updated": [], "deleted": []}

    def load(self, path: str | Path) -> list[Entity]:
        """Seed the store from a data file (see :func:`load_data_file`)."""
        from sss_emulator.backend.data_files import load_data_file

        return load_data_file(self, Path(path))

    def add_blob(self, path: str, data: bytes) -> None:
        """Put file contents at a server path, for seeding File entities."""
        with self.lock, self._writing():
            self._set_blob(norm_path(path), data)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One write, all or nothing: it ends with the SQLite commit, and when anything fails
        on the way (the SQLite file deleted while serving, a full disk) every change to memory,
        files and the SQLite file is taken back and :class:`StoreWriteError` says what failed.
        Acknowledged writes are committed before the answer, so they survive a SIGKILL."""
        if self._journal is not None:  # inside another write (the lock is reentrant): its part
            yield
            return
        journal = self._journal = WriteJournal()
        next_id, revision = self._next_id, self.revision
        changed = {kind: len(done) for kind, done in self.changes.items()}
        try:
            yield
            if journal.dirty:
                self._after_write()
                if self._db is not None:
                    self._db.commit(self._next_id)
        except BaseException as exc:
            self._journal = None  # taking back records nothing
            journal.undo()
            if self._db is not None:
                self._db.rollback()
            self._next_id, self.revision = next_id, revision
            for kind, count in changed.items():
                del self.changes[kind][count:]
            self._clear_caches()
            if isinstance(exc, OSError | sqlite3.Error):
                _log.warning("a write failed and was taken back: %s", exc)
                raise StoreWriteError(failure_text(exc, self.sqlite_path)) from exc
            raise
        else:
            journal.committed()
        finally:
            self._journal = None

    def _on_undo(self, step: Callable[[], None]) -> None:
        """Record how to take back a change to memory: right after making it, before any I/O
        that may fail (a step recorded later would be lost with the failure)."""
        if self._journal is not None:
            self._journal.on_undo(step)

    # ----------------------------------------------------------------- writing
    def insert(
        self,
        drafts: list[Entity],
        *,
        unique_names: bool = True,
        keep_ids: bool = False,
        record_changes: bool = True,
        flags: Mapping[str, str] | None = None,
        file_exists: Callable[[str], bool] | None = None,
        author: Author | None = None,
        authorize: Authorize | None = None,
    ) -> tuple[list[Entity], bool]:
        """Insert entities all-or-nothing; return the answer entities and whether it succeeded.

        On success the drafts *become* the stored entities (nothing is copied, which keeps large
        inserts cheap): do not change them afterwards, and treat the answers as read-only views
        (``clone()`` one to change it).

        ``keep_ids`` keeps positive ids from the drafts (data files carry the server's ids);
        ``flags`` are the request's query parameters (``force-missing-obligatory``, ``strict``);
        ``file_exists`` enables the check that a new File has contents (see :class:`Transaction`);
        ``author`` is who writes (default: the emulator's default user, as for seeded data);
        ``authorize`` sees each resolved draft (and the stored entity it replaces) and marks
        what the writer may not do (see :mod:`sss_emulator.backend.write_checks`).
        """
        with self.lock, self._writing():
            tx = Transaction(self, drafts, flags=flags, file_exists=file_exists)
            given_ids, next_id = [d.id for d in drafts], self._next_id
            for draft in drafts:
                self._assign_id(tx, draft, keep_ids)
            tx.resolve_all([(d, None) for d in drafts], unique_names=unique_names)
            if authorize is not None:
                for draft in drafts:
                    authorize(draft, None)
            if any(_has_errors(d) for d in drafts):
                # nothing was stored: answer with the ids the request used, reuse the new ones
                for draft, given in zip(drafts, given_ids, strict=True):
                    draft.id = given
                self._next_id = next_id
                return drafts, False
            version = Version(1, _now_ns(), *(author or _SEED_AUTHOR))
            answers = []
            for draft in drafts:
                draft.version = version
                answers.append(self._store(draft, record_changes and "inserted"))
            return answers, True

    def update(
        self,
        drafts: list[Entity],
        *,
        unique_names: bool = True,
        flags: Mapping[str, str] | None = None,
        file_exists: Callable[[str], bool] | None = None,
        author: Author | None = None,
        authorize: Authorize | None = None,
    ) -> tuple[list[Entity], bool]:
        """Replace stored entities by the drafts (matched by id), all-or-nothing.

        Each updated entity gets a new version; the replaced one stays retrievable as
        ``<id>@<version id>``.
        """
        with self.lock, self._writing():
            tx = Transaction(self, drafts, flags=flags, file_exists=file_exists)
            pairs: list[tuple[Entity, Entity | None]] = []
            for draft in drafts:
                current = self._entities.get(draft.id) if draft.id is not None else None
                if current is None:
                    draft.messages.append(messages.does_not_exist())
                    continue
                tx.batch_by_id[current.id] = draft  # type: ignore[index]
                if draft.name:
                    tx.batch_by_name.setdefault(draft.name.lower(), []).append(draft)
                pairs.append((draft, current))
            tx.resolve_all(pairs, unique_names=unique_names)
            if authorize is not None:
                for draft, current in pairs:
                    authorize(draft, current)
            if any(_has_errors(d) for d in drafts):
                return drafts, False
            now, who = _now_ns(), author or _SEED_AUTHOR
            versions: dict[int, Version] = {}  # one object per sequence number, shared
            answers: list[Entity] = []
            for draft in drafts:
                old = self._entities[draft.id]  # type: ignore[index]
                if draft.path is None and old.path is not None and draft.upload is None:
                    draft.path, draft.checksum, draft.size = old.path, old.checksum, old.size
                if decisions.UNCHANGED_UPDATE_KEEPS_VERSION and same_content(old, draft):
                    answers.append(unchanged_answer(old, draft))
                    continue
                seq = (old.version.seq if old.version is not None else 1) + 1
                draft.version = versions.setdefault(seq, Version(seq, now, *who))
                self._add_history(old)
                if draft.upload is None and old.path and draft.path and old.path != draft.path:
                    self._move_blob(old.path, draft.path)
                    draft.checksum, draft.size = old.checksum, old.size
                self._unstore(old)
                answers.append(self._store(draft, "updated"))
                if old.role == "RecordType" and old.name and draft.name != old.name:
                    self._rename_datatype(old.name, draft.name or "")
            return answers, True

    def delete(self, refs: list[str]) -> tuple[list[Entity], bool]:
        """Delete by id (or name, as pylib sends for id-less entities), all-or-nothing."""
        with self.lock, self._writing():
            answers: list[Entity] = []
            targets: dict[int, Entity] = {}
            for ref in refs:
                found = self._lookup_ref(ref)
                if not found:
                    answers.append(_missing(ref))
                    continue
                for entity in found:
                    targets[entity.id] = entity  # type: ignore[index]
                    answers.append(entity.clone())
            for answer in answers:
                if answer.id in targets:
                    users = sorted(self._users_of(answer.id) - set(targets))
                    if users:
                        answer.messages.append(messages.still_referenced(users))
            if any(a.messages for a in answers):
                return answers, False
            for entity in targets.values():
                self._unstore(entity)
                self._drop_history(entity.id)  # type: ignore[arg-type]
                if entity.role == "File" and entity.path is not None:
                    self._drop_blob(entity.path)
                self.changes["deleted"].append(entity.summary(self._parent_names(entity)))
                self._persist_delete(entity.id)  # type: ignore[arg-type]
            for answer in answers:
                answer.messages.append(messages.deleted())
            return answers, True

    def retrieve(self, refs: list[str]) -> list[Entity]:
        """Entities for ``GET /Entity/<ref>&<ref>``: by id, or all entities of a name."""
        with self.lock:
            answers: list[Entity] = []
            for ref in refs:
                found = self._lookup_ref(ref)
                answers.extend(found if found else [_missing(ref)])
            return answers

    # ----------------------------------------------------------------- resolution
    def _assign_id(self, tx: Transaction, draft: Entity, keep_ids: bool) -> None:
        if keep_ids and draft.id is not None and draft.id > 0:
            if draft.id in self._entities or draft.id in tx.batch_by_id:
                draft.messages.append(
                    Message("Error", 0, f"Id {draft.id} is given to two entities.")
                )
                return
            new_id = draft.id
            self._next_id = max(self._next_id, new_id + 1)
        else:
            new_id = self._next_id
            self._next_id += 1
            if draft.id is not None and draft.id < 0:
                tx.tmp_ids[draft.id] = new_id
        tx.batch_by_id[new_id] = draft
        draft.id = new_id
        if draft.name:
            tx.batch_by_name.setdefault(draft.name.lower(), []).append(draft)

    # ----------------------------------------------------------------- storing
    def _store(self, draft: Entity, change: str | bool) -> Entity:
        """Store the draft object itself (no copy: a 10,000-record insert stays cheap) and
        return the answer: a shallow copy carrying the request's cuid and warnings."""
        entity = draft
        answer = dataclasses.replace(
            entity, messages=[m for m in entity.messages if m.type != "Error"]
        )
        entity.cuid, entity.messages, entity.flags, entity.acl = None, [], None, None
        if entity.upload is not None and entity.path is not None:
            self._set_blob(entity.path, entity.upload)
        entity.upload, entity.upload_ref = None, None
        answer.upload = None
        for parent in entity.parents:
            parent.name, parent.inheritance = None, None
            parent.messages.clear()
        for prop in entity.properties:
            prop.messages.clear()
        assert entity.id is not None
        self._put(entity)
        self._on_undo(lambda: self._take(entity))
        if isinstance(change, str):
            self.changes[change].append(entity.summary(self._parent_names(entity)))
        self._persist(entity)
        return answer

    def _rename_datatype(self, old: str, new: str) -> None:
        """A renamed RecordType renames every datatype naming it, as the server answers them
        with the RecordType's current name."""
        spellings = {old: new, f"LIST<{old}>": f"LIST<{new}>"}
        for entity in self._entities.values():
            changed = False
            holders: list[Entity | PropertyValue] = [entity, *entity.properties]
            for holder in holders:
                if holder.datatype in spellings:
                    self._on_undo(_setter(holder, holder.datatype))
                    holder.datatype = spellings[holder.datatype]
                    changed = True
            if changed:
                self._persist(entity)

    def _move_blob(self, old: str, new: str) -> None:
        """A File whose path changed keeps its contents under the new path."""
        data = self._blobs.get(old)
        if data is None:
            return
        self._set_blob(old, None)
        self._set_blob(new, data)

    def _drop_blob(self, path: str) -> None:
        """A deleted File's contents go with it, as the server removes the file: from memory,
        the SQLite file, and the copy this store wrote under ``file_root`` (never a file it
        did not write: a File made from a file already there keeps that file)."""
        self._set_blob(path, None)

    def _set_blob(self, path: str, data: bytes | None) -> None:
        """Put (or with None, remove) a file's contents: in memory, in the SQLite file and as
        the copy under ``file_root``; a removed copy goes only once the write is durable."""
        previous = self._blobs.get(path)
        if data is None and previous is None:
            return
        # each step is undoable before the next I/O, which may fail
        self._on_undo(lambda: self._restore_blob(path, previous))
        if data is None:
            del self._blobs[path]
            if self._db is not None:
                self._db.delete_blob(path)
            if self._journal is not None:
                self._journal.after_commit(lambda: self._remove_file(path))
            else:
                self._remove_file(path)
        else:
            self._blobs[path] = data
            if self._db is not None:
                self._db.put_blob(path, data)
            if self.file_root is not None:
                self._write_file(path, data)

    def _restore_blob(self, path: str, data: bytes | None) -> None:
        if data is None:
            self._blobs.pop(path, None)
        else:
            self._blobs[path] = data

    def _add_history(self, old: Entity) -> None:
        """Keep the version an update replaces."""
        entity_id = old.id
        assert entity_id is not None

        def take_back() -> None:
            chain = self._history[entity_id]
            chain.pop()
            if not chain:
                del self._history[entity_id]

        self._history.setdefault(entity_id, []).append(old)
        self._on_undo(take_back)  # before the I/O, which may fail
        self._persist_history(old)

    def _drop_history(self, entity_id: int) -> None:
        chain = self._history.pop(entity_id, None)
        if chain is not None:
            self._on_undo(lambda: self._history.__setitem__(entity_id, chain))

    def _put(self, entity: Entity) -> None:
        assert entity.id is not None
        self._entities[entity.id] = entity
        self._index(entity)

    def _take(self, entity: Entity) -> None:
        assert entity.id is not None
        self._unindex(entity)
        del self._entities[entity.id]

    def _unstore(self, entity: Entity) -> None:
        self._take(entity)
        self._on_undo(lambda: self._put(entity))

    def _after_write(self) -> None:
        self.revision += 1
        self._clear_caches()

    def _clear_caches(self) -> None:
        self.query_cache.clear()
        self._ancestor_cache.clear()
        self._descendant_cache.clear()

    def _lookup_ref(self, ref: str) -> list[Entity]:
        ref, _at, version = ref.partition("@")
        number = parse_id(ref)
        if number is not None:
            entity = self._entities.get(number)
            if entity is not None and version and version.upper() != "HEAD":
                entity = self._find_version(entity.id, version)  # type: ignore[arg-type]
            return [entity.clone()] if entity else []
        return [e.clone() for e in self.find_by_name(ref)]

    def _find_version(self, entity_id: int, version_id: str) -> Entity | None:
        """``<id>@<version id>``, or ``<id>@HEAD~n`` (n versions before the head)."""
        chain = self.versions_of(entity_id)
        back_text = version_id[5:]
        if version_id.upper().startswith("HEAD~") and back_text.isascii() and back_text.isdigit():
            back = int(back_text)
            return chain[-1 - back] if back < len(chain) else None
        return next(
            (e for e in chain if e.version and e.version.version_id(entity_id) == version_id),
            None,
        )

    def _users_of(self, entity_id: int) -> set[int]:
        users = set(_get(self._children, entity_id))
        users |= _get(self._referrers, entity_id)
        users |= _get(self._prop_users, entity_id)
        users.discard(entity_id)
        return users

    def _parent_names(self, entity: Entity) -> list[str]:
        return [n for n in (self.name_of(p.id) for p in entity.parents) if n]

    # ----------------------------------------------------------------- indexes
    def _reset_indexes(self) -> None:
        # Every index maps a key to its entity ids: one id as a plain int, more as a set. Most
        # property values and names belong to one entity, and an int costs a fraction of a set.
        self._by_role: dict[str, _Postings] = {}
        self._by_name: dict[str, _Postings] = {}
        self._children: dict[int, _Postings] = {}
        self._has_prop: dict[str, _Postings] = {}
        self._values: dict[str, dict[Key, _Postings]] = {}
        self._referrers: dict[int, _Postings] = {}
        self._prop_users: dict[int, _Postings] = {}
        self._ancestor_cache: dict[int, frozenset[int]] = {}
        self._descendant_cache: dict[int, frozenset[int]] = {}

    def _index_keys(self, entity: Entity) -> Iterable[tuple[dict[Any, _Postings], Any]]:
        yield self._by_role, entity.role
        if entity.name:
            yield self._by_name, entity.name.lower()
        for parent in entity.parents:
            if parent.id is not None:
                yield self._children, parent.id
        for prop in entity.properties:
            pname = (prop.name or self.name_of(prop.id) or "").lower()
            yield self._has_prop, pname
            if prop.id is not None:
                yield self._prop_users, prop.id
            reference = is_reference_datatype(prop.datatype)
            values = _values(prop.value)
            if not values:
                continue
            index = self._values.setdefault(pname, {})
            for value in values:
                yield index, typed_key(value, prop.datatype)
                target = parse_id(value) if reference else None
                if target is not None:
                    yield self._referrers, target

    def _index(self, entity: Entity) -> None:
        entity_id = entity.id
        assert entity_id is not None
        for index, key in self._index_keys(entity):
            current = index.get(key)
            if current is None:
                index[key] = entity_id
            elif isinstance(current, int):
                if current != entity_id:
                    index[key] = {current, entity_id}
            else:
                current.add(entity_id)

    def _unindex(self, entity: Entity) -> None:
        for index, key in self._index_keys(entity):
            current = index.get(key)
            if current is None:
                continue
            if isinstance(current, int):
                if current == entity.id:
                    del index[key]
                continue
            current.discard(entity.id)
            if len(current) == 1:
                index[key] = next(iter(current))
            elif not current:
                del index[key]

    @classmethod
    def of_versions(cls, entities: Iterable[Entity]) -> EntityStore:
        """A store holding exactly these entity objects (older versions, for ``ANY VERSION
        OF``), indexed like any store; nothing is copied or checked."""
        store = cls()
        for entity in entities:
            store._entities[entity.id] = entity  # type: ignore[index]
            store._index(entity)
        return store

    # ----------------------------------------------------------------- SQLite
    def _open_sqlite(self, path: Path) -> None:
        self._db = SqliteMirror(path)
        entities, self._blobs, saved_next_id = self._db.read()
        for entity in entities:
            self._entities[entity.id] = entity  # type: ignore[index]
            self._index(entity)
        for entity in self._db.read_history():
            if entity.id in self._entities:
                self._history.setdefault(entity.id, []).append(entity)
        self._next_id = max([_FIRST_ID, saved_next_id, *(i + 1 for i in self._entities)])
        _log.debug("loaded %d entities from %s", len(self._entities), path)

    def _persist(self, entity: Entity) -> None:
        if self._db is not None:
            self._db.put_entity(entity)

    def _persist_history(self, entity: Entity) -> None:
        if self._db is not None:
            self._db.put_history(entity)

    def _persist_delete(self, entity_id: int) -> None:
        if self._db is not None:
            self._db.delete_entity(entity_id)

    def keep_files_in(self, folder: Path) -> None:
        """Also keep each stored file's contents at ``folder/<path>``, as the server's file
        store (caosroot) does, so a script can read a file it inserted from disk."""
        with self.lock:
            self.file_root = folder
            folder.mkdir(parents=True, exist_ok=True)
            for path, data in self._blobs.items():
                self._write_file(path, data)

    def _write_file(self, path: str, data: bytes) -> None:
        assert self.file_root is not None
        target = self.file_root / path.lstrip("/")
        if not target.resolve().is_relative_to(self.file_root.resolve()):
            return  # a path with ../ stays out of the folder (the server refuses it anyway)
        write_file_undoably(self._journal, target, data)

    def _remove_file(self, path: str) -> None:
        """Remove the copy of a file the store no longer holds (one stored again at the same
        path since, by the same write, stays)."""
        if self.file_root is not None and path not in self._blobs:
            target = self.file_root / path.lstrip("/")
            if target.resolve().is_relative_to(self.file_root.resolve()):
                target.unlink(missing_ok=True)

    def close(self) -> None:
        """Close the SQLite file, if any."""
        if self._db is not None:
            self._db.close()
            self._db = None


_Postings = int | set[int]


def _get(index: Mapping[Any, _Postings], key: Any) -> AbstractSet[int]:
    return postings(index.get(key))


def postings(found: _Postings | AbstractSet[int] | None) -> AbstractSet[int]:
    """The ids of one index entry (stored as an int when there is one)."""
    if found is None:
        return frozenset()
    if isinstance(found, int):
        return frozenset((found,))
    return found


def _now_ns() -> int:
    return time.time_ns()


def _has_errors(entity: Entity) -> bool:
    return (
        any(m.type == "Error" for m in entity.messages)
        or any(m.type == "Error" for p in entity.parents for m in p.messages)
        or any(m.type == "Error" for p in entity.properties for m in p.messages)
    )


def _setter(holder: Entity | PropertyValue, datatype: str | None) -> Callable[[], None]:
    """Puts a datatype back (taking back a renamed RecordType's new name)."""

    def put_back() -> None:
        holder.datatype = datatype

    return put_back


def _missing(ref: str) -> Entity:
    number = parse_id(ref.split("@", 1)[0])
    entity = Entity(id=number, role="Entity", name=ref if number is None else None)
    entity.messages.append(messages.does_not_exist())
    return entity


def _closure(start: int, neighbours: Callable[[int], Iterable[int]],
             cache: dict[int, frozenset[int]]) -> frozenset[int]:
    """``start`` and everything reachable through ``neighbours`` (cycles are safe), cached."""
    cached = cache.get(start)
    if cached is not None:
        return cached
    seen: set[int] = set()
    todo = [start]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(neighbours(current))
    result = cache[start] = frozenset(seen)
    return result
