"""How the server resolves and checks an Insert or Update before storing it.

Parents and properties given by name only are looked up (a RecordType may serve as a reference
property), temporary negative ids point at other entities of the same request, reference values
given by name become ids, and datatypes given as an entity (pylib sends its id) become the
RecordType's name. Then everything the server checks is checked: the parent constellation and
inheritance cycles, known datatypes, values against their datatype (lists only for ``LIST<…>``),
references against the RecordType they must be a child of, OBLIGATORY properties of the parents
(unless the ``force-missing-obligatory`` flag says otherwise), unique names, and a File's contents.
Every problem becomes an error message on the entity, parent or property concerned, in the
places the server puts them, so pylib raises the same exceptions.

Resolution runs in phases over the whole request (parents, datatypes, properties, checks), so an
entity may refer to one that comes later in the same container.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

from sss_emulator import decisions
from sss_emulator.backend import messages
from sss_emulator.backend.datetimes import parse_datetime
from sss_emulator.backend.model import (
    ATOMIC_DATATYPES,
    Entity,
    EntityLookup,
    ParentRef,
    PropertyValue,
    Role,
    Value,
    is_reference_datatype,
    list_element_datatype,
)
from sss_emulator.wire import parse_id

__all__ = ["FORCE_MISSING_OBLIGATORY", "Transaction", "norm_path"]

FORCE_MISSING_OBLIGATORY = "force-missing-obligatory"
"""The flag (query parameter, or per entity ``flag="force-missing-obligatory:ignore,"``)."""


_IMPORTANCES = ("OBLIGATORY", "RECOMMENDED", "SUGGESTED", "FIX")
_INHERITED: dict[str, frozenset[str]] = {
    level: frozenset(_IMPORTANCES[: i + 1]) for i, level in enumerate(_IMPORTANCES)
}
"""Which importances an ``inheritance`` level copies: itself and everything stronger."""
_INHERITED["ALL"] = _INHERITED["FIX"]


def norm_path(path: str) -> str:
    """Server file paths always start with one ``/``."""
    return "/" + path.strip().lstrip("/")


class Transaction:
    """Resolution state of one Insert/Update: temporary ids and names added by this request.

    Args:
        store: where existing entities are looked up.
        drafts: the request's entities.
        flags: the request's query parameters (``force-missing-obligatory``, ``strict``).
        file_exists: tells whether a path already has contents the server could use for a new
            File; None skips the contents check (seeding from data files).
    """

    def __init__(
        self,
        store: EntityLookup,
        drafts: list[Entity],
        *,
        flags: Mapping[str, str] | None = None,
        file_exists: Callable[[str], bool] | None = None,
    ) -> None:
        self.store = store
        self.drafts = drafts
        self.flags = {k.lower(): v for k, v in (flags or {}).items()}
        self.file_exists = file_exists
        self.tmp_ids: dict[int, int] = {}
        self.batch_by_id: dict[int, Entity] = {}
        self.batch_by_name: dict[str, list[Entity]] = {}
        self._ancestor_cache: dict[int, frozenset[int]] = {}

    # ----------------------------------------------------------------- lookups
    def lookup_id(self, ref: int) -> Entity | None:
        if ref < 0:
            new_id = self.tmp_ids.get(ref)
            return None if new_id is None else self.batch_by_id.get(new_id)
        return self.batch_by_id.get(ref) or self.store.get(ref)

    def lookup_name(self, name: str, prefer: tuple[Role, ...]) -> Entity | None:
        found = list(self.batch_by_name.get(name.lower(), [])) + self.store.find_by_name(name)
        for role in prefer:
            for entity in found:
                if entity.role == role:
                    return entity
        return found[0] if found else None

    def named(self, name: str) -> list[Entity]:
        """Every entity this name denotes: this request's drafts first, then the stored ones
        the request does not replace (an update's draft stands for its stored entity)."""
        batch = self.batch_by_name.get(name.lower(), [])
        taken = {e.id for e in batch} | set(self.batch_by_id)
        return batch + [e for e in self.store.find_by_name(name) if e.id not in taken]

    def lookup(
        self, ref_id: int | None, name: str | None, prefer: tuple[Role, ...]
    ) -> Entity | None:
        if ref_id is not None:
            return self.lookup_id(ref_id)
        if name:
            return self.lookup_name(name, prefer)
        return None

    def ancestors(self, entity_id: int) -> frozenset[int]:
        """The entity and its transitive parents, this request's drafts taking precedence."""
        cached = self._ancestor_cache.get(entity_id)
        if cached is not None:
            return cached
        seen: set[int] = set()
        todo = [entity_id]
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            entity = self.lookup_id(current)
            if entity is not None:
                todo.extend(p.id for p in entity.parents if p.id is not None and p.id > 0)
        result = self._ancestor_cache[entity_id] = frozenset(seen)
        return result

    # ----------------------------------------------------------------- phases
    def resolve_all(
        self, pairs: list[tuple[Entity, Entity | None]], *, unique_names: bool
    ) -> None:
        """Resolve and check every draft; ``pairs`` holds (draft, stored entity it updates)."""
        for draft, updating in pairs:
            if updating is not None and updating.role != draft.role:
                draft.messages.append(messages.cannot_change_role(updating.role, draft.role))
            self._resolve_parents(draft)
        self._ancestor_cache.clear()
        for draft, _updating in pairs:
            self._check_parents(draft)
        for draft, _updating in pairs:
            self._resolve_own_datatype(draft)
        for draft, _updating in pairs:
            self._resolve_properties(draft)
        for draft, _updating in pairs:
            self._inherit_properties(draft)
        for draft, updating in pairs:
            self._check_obligatory(draft)
            self._check_unique_name(draft, updating, unique_names)
            if draft.role == "File":
                self._resolve_file(draft, updating)
            if self.flags.get("strict", "").lower() == "true":
                _warnings_become_errors(draft)

    def _resolve_parents(self, draft: Entity) -> None:
        bad = False
        for parent in draft.parents:
            prefer: tuple[Role, ...] = (
                ("Property", "RecordType") if draft.role == "Property" else ("RecordType",)
            )
            found = self.lookup(parent.id, parent.name, prefer)
            if found is None:
                parent.messages.append(messages.does_not_exist())
                bad = True
            else:
                parent.id, parent.name = found.id, None
        if bad:
            draft.messages.append(messages.unqualified_parents())

    def _check_parents(self, draft: Entity) -> None:
        """Affiliation (which roles may be parents) and inheritance cycles."""
        bad = False
        allowed = decisions.PARENT_ROLES.get(draft.role, ())
        for parent in draft.parents:
            found = self.lookup_id(parent.id) if parent.id is not None else None
            if found is None:
                continue
            if found.role not in allowed:
                parent.messages.append(messages.affiliation_not_allowed(draft.role, found.role))
                bad = True
            elif draft.id is not None and draft.id in self.ancestors(found.id):  # type: ignore[arg-type]
                parent.messages.append(messages.circular_inheritance())
                bad = True
        if bad and not any(m.code == 116 for m in draft.messages):
            draft.messages.append(messages.unqualified_parents())

    def _resolve_own_datatype(self, draft: Entity) -> None:
        if draft.datatype:
            canonical = self.canonical_datatype(draft.datatype)
            if canonical is None:
                draft.messages.append(messages.unknown_datatype(draft.datatype))
            else:
                draft.datatype = canonical
        elif draft.role == "Property":
            inherited = [
                found.datatype
                for p in draft.parents
                if p.id is not None and (found := self.lookup_id(p.id)) is not None
            ]
            draft.datatype = next((d for d in inherited if d), None)
            if not draft.datatype:
                draft.messages.append(messages.has_no_datatype())

    def canonical_datatype(self, datatype: str) -> str | None:
        """The datatype as the server answers it (``LIST<Person>`` for ``LIST<123>``), or None."""
        text = datatype.strip()
        if text.upper() in ATOMIC_DATATYPES:
            return text.upper()
        inner = list_element_datatype(text)
        if inner is not None:
            canonical = self.canonical_datatype(inner)
            return None if canonical is None else f"LIST<{canonical}>"
        number = parse_id(text)
        if number is not None:
            found = self.lookup_id(number)
        else:
            found = self.lookup_name(text, ("RecordType",))
        if found is None or found.role != "RecordType" or not found.name:
            return None
        return found.name

    def _resolve_properties(self, draft: Entity) -> None:
        bad = False
        for prop in draft.properties:
            found = self.lookup(prop.id, prop.name, ("Property", "RecordType"))
            if found is None:
                prop.messages.append(messages.does_not_exist())
                bad = True
                continue
            prop.id = found.id
            prop.name = prop.name or found.name
            if prop.datatype:
                canonical = self.canonical_datatype(prop.datatype)
                if canonical is None:
                    prop.messages.append(messages.unknown_datatype(prop.datatype))
                    bad = True
                    continue
                prop.datatype = canonical
            else:
                prop.datatype = found.datatype if found.role != "RecordType" else found.name
            if prop.unit is None and found.role == "Property":
                prop.unit = found.unit
            prop.value = self._normalise_value(prop)
            bad = bad or bool(prop.messages)
        if bad:
            draft.messages.append(messages.unqualified_properties())

    def _inherit_properties(self, draft: Entity) -> None:
        """Copy the parents' properties an ``inheritance`` flag asks for (``RecordType(…)
        .add_parent(x)`` sends OBLIGATORY), as the server does on insert and update."""
        have = {p.id for p in draft.properties if p.id is not None}
        for parent in draft.parents:
            wanted = _INHERITED.get((parent.inheritance or "NONE").upper(), frozenset())
            found = self.lookup_id(parent.id) if parent.id is not None and wanted else None
            if found is None:
                continue
            for prop in found.properties:
                if prop.id is None or prop.id in have:
                    continue
                if (prop.importance or "FIX").upper() not in wanted:
                    continue
                have.add(prop.id)
                draft.properties.append(
                    PropertyValue(
                        id=prop.id,
                        name=prop.name,
                        datatype=prop.datatype,
                        value=list(prop.value) if isinstance(prop.value, list) else prop.value,
                        unit=prop.unit,
                        importance=prop.importance,
                        description=prop.description,
                    )
                )

    def _normalise_value(self, prop: PropertyValue) -> Value:
        if prop.value is None:
            return None
        element_type = list_element_datatype(prop.datatype)
        if isinstance(prop.value, list):
            if element_type is None and prop.datatype is not None:
                prop.messages.append(messages.list_not_allowed())
                return prop.value
            return [self._normalise_one(prop, element_type, v) for v in prop.value]
        return self._normalise_one(prop, element_type or prop.datatype, prop.value)

    def _normalise_one(
        self, prop: PropertyValue, datatype: str | None, value: str | None
    ) -> str | None:
        if value is None or datatype is None:
            return value
        upper = datatype.upper()
        if upper == "BOOLEAN":
            if value.lower() in {"true", "false"}:
                return value.upper()
            prop.messages.append(messages.invalid_value(value, datatype))
        elif upper == "INTEGER":
            try:
                return str(int(value))
            except ValueError:
                prop.messages.append(messages.invalid_value(value, datatype))
        elif upper == "DOUBLE":
            try:
                float(value)
            except ValueError:
                prop.messages.append(messages.invalid_value(value, datatype))
        elif upper == "DATETIME":
            if parse_datetime(value) is None:
                prop.messages.append(messages.invalid_value(value, datatype))
        elif is_reference_datatype(datatype):
            targets = self._reference_targets(value)
            if not targets:
                prop.messages.append(messages.reference_does_not_exist(value))
                return value
            if len(targets) > 1:
                prop.messages.append(messages.reference_ambiguous(value))
                return value
            target = targets[0]
            if not self._reference_qualifies(target, datatype):
                prop.messages.append(messages.reference_not_qualified(datatype))
            return str(target.id)
        return value

    def _reference_qualifies(self, target: Entity, datatype: str) -> bool:
        upper = datatype.upper()
        if upper == "REFERENCE":
            return True
        if upper == "FILE":
            return target.role == "File"
        rt = self.lookup_name(datatype, ("RecordType",))
        if rt is None or rt.id is None or target.id is None:
            return False
        if target.id == rt.id:
            return decisions.REFERENCE_TO_DATATYPE_ITSELF
        return rt.id in self.ancestors(target.id)

    def _reference_targets(self, value: str) -> list[Entity]:
        """What a reference value denotes: the entity of an id, or every entity of a name
        (more than one is refused as ambiguous, never resolved to the first)."""
        number = parse_id(value)
        if number is not None:
            found = self.lookup_id(number)
            return [] if found is None else [found]
        roles = decisions.REFERENCE_BY_NAME_ROLES
        return [e for e in self.named(value) if e.role in roles]

    # ----------------------------------------------------------------- checks
    def _check_obligatory(self, draft: Entity) -> None:
        if draft.role not in decisions.OBLIGATORY_CHECKED_ROLES:
            return
        mode = (
            (draft.flags or {}).get(FORCE_MISSING_OBLIGATORY)
            or self.flags.get(FORCE_MISSING_OBLIGATORY)
            or "error"
        ).lower()
        if mode == "ignore":
            return
        have = [self.ancestors(p.id) for p in draft.properties if p.id is not None]
        for parent in draft.parents:
            parent_entity = self.lookup_id(parent.id) if parent.id is not None else None
            if parent_entity is None:
                continue
            for needed in parent_entity.properties:
                if (needed.importance or "").upper() != "OBLIGATORY" or needed.id is None:
                    continue
                if not any(needed.id in ancestry for ancestry in have):
                    draft.messages.append(
                        messages.obligatory_missing("Warning" if mode == "warn" else "Error")
                    )
                    return

    def _check_unique_name(
        self, draft: Entity, updating: Entity | None, unique_names: bool
    ) -> None:
        renamed = updating is None or (updating.name or "").lower() != (draft.name or "").lower()
        if unique_names and draft.name and renamed:  # an update keeping its name is no clash
            clash = [
                e
                for e in self.batch_by_name.get(draft.name.lower(), [])
                + self.store.find_by_name(draft.name)
                if e.id != draft.id and e is not draft
            ]
            if clash:
                draft.messages.append(messages.name_not_unique())

    def _resolve_file(self, draft: Entity, updating: Entity | None) -> None:
        if draft.path is None:
            if updating is None and self.file_exists is not None:
                draft.messages.append(messages.has_no_path())
            return
        draft.path = norm_path(draft.path)
        owner = self.store.path_owner(draft.path)
        if owner is not None and (updating is None or owner.id != updating.id):
            draft.messages.append(messages.path_in_use(draft.path))
            return
        data = draft.upload if draft.upload is not None else self.store.read_blob(draft.path)
        if data is not None:
            draft.checksum = hashlib.sha512(data).hexdigest()
            draft.size = len(data)
        elif (
            updating is None
            and self.file_exists is not None
            and decisions.FILE_NEEDS_CONTENTS
            and not self.file_exists(draft.path)
        ):
            draft.messages.append(messages.file_not_uploaded(draft.path))


def _warnings_become_errors(draft: Entity) -> None:
    """``strict=true``: the server treats warnings as errors and stores nothing."""
    holders: list[Entity | ParentRef | PropertyValue] = [draft, *draft.parents, *draft.properties]
    for holder in holders:
        for message in holder.messages:
            if message.type == "Warning":
                message.type = "Error"
