"""How the server resolves an Insert or Update before storing it.

Parents and properties given by name only are looked up (a RecordType may serve as a reference
property), temporary negative ids point at other entities of the same request, reference values
given by name become ids, and values are checked against their datatype. Every problem becomes an
error message on the entity, parent or property concerned, as the server reports it.
"""

from __future__ import annotations

import hashlib

from sss_emulator.backend import messages
from sss_emulator.backend.model import (
    Entity,
    EntityLookup,
    PropertyValue,
    Role,
    Value,
    is_reference_datatype,
    list_element_datatype,
)

__all__ = ["Transaction", "norm_path"]


def norm_path(path: str) -> str:
    """Server file paths always start with one ``/``."""
    return "/" + path.strip().lstrip("/")


class Transaction:
    """Resolution state of one Insert/Update: temporary ids and names added by this request."""

    def __init__(self, store: EntityLookup, drafts: list[Entity]) -> None:
        self.store = store
        self.drafts = drafts
        self.tmp_ids: dict[int, int] = {}
        self.batch_by_id: dict[int, Entity] = {}
        self.batch_by_name: dict[str, list[Entity]] = {}

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

    def lookup(
        self, ref_id: int | None, name: str | None, prefer: tuple[Role, ...]
    ) -> Entity | None:
        if ref_id is not None:
            return self.lookup_id(ref_id)
        if name:
            return self.lookup_name(name, prefer)
        return None

    def resolve(self, draft: Entity, *, updating: Entity | None, unique_names: bool) -> None:
        self._resolve_parents(draft)
        self._resolve_properties(draft)
        if draft.role == "Property" and not draft.datatype:
            inherited = [
                self.lookup_id(p.id).datatype  # type: ignore[union-attr]
                for p in draft.parents
                if p.id is not None and self.lookup_id(p.id) is not None
            ]
            draft.datatype = next((d for d in inherited if d), None)
            if not draft.datatype:
                draft.messages.append(messages.has_no_datatype())
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
        if draft.role == "File":
            self._resolve_file(draft, updating)

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
            if not prop.datatype:
                prop.datatype = found.datatype if found.role != "RecordType" else found.name
            if prop.unit is None and found.role == "Property":
                prop.unit = found.unit
            prop.value = self._normalise_value(prop)
            bad = bad or bool(prop.messages)
        if bad:
            draft.messages.append(messages.unqualified_properties())

    def _normalise_value(self, prop: PropertyValue) -> Value:
        if prop.value is None:
            return None
        element_type = list_element_datatype(prop.datatype) or prop.datatype
        if isinstance(prop.value, list):
            return [self._normalise_one(prop, element_type, v) for v in prop.value]
        return self._normalise_one(prop, element_type, prop.value)

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
        elif is_reference_datatype(datatype):
            target = self._reference_target(value)
            if target is None:
                prop.messages.append(messages.reference_does_not_exist(value))
            else:
                return str(target.id)
        return value

    def _resolve_file(self, draft: Entity, updating: Entity | None) -> None:
        if draft.path is None:
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

    def _reference_target(self, value: str) -> Entity | None:
        if value.lstrip("-").isdigit():
            return self.lookup_id(int(value))
        return self.lookup_name(value, ("Record", "File", "RecordType", "Property"))
