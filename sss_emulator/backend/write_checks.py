"""Which permissions a write needs, entity by entity: the functional core of the stand-in's
authorization of ``POST``/``PUT``/``DELETE Entity``.

The server checks, for every entity of a transaction, the role permission of the transaction
(``TRANSACTION:INSERT|UPDATE|DELETE``) and the entity permissions of what the request changes
(the entity-permission table: ``UPDATE:NAME`` for a new name, ``UPDATE:PROPERTY:ADD`` for an
added property, ``DELETE``, ``EDIT:ACL`` …), and of what it uses (``USE:AS_PARENT`` on a new
parent, ``USE:AS_PROPERTY`` on a new property's definition, ``USE:AS_REFERENCE`` on an entity a
new reference value points at, ``USE:AS_DATA_TYPE`` on a RecordType a new data type names). A
refusal is an error with code 403 on that entity, so pylib raises ``AuthorizationError`` inside
a ``TransactionError``, and nothing of the request is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from sss_emulator.backend.acl import same_acl
from sss_emulator.backend.model import (
    ATOMIC_DATATYPES,
    AclEntry,
    Entity,
    EntityLookup,
    is_reference_datatype,
    list_element_datatype,
)
from sss_emulator.wire import parse_id

__all__ = ["Need", "needs_for_delete", "needs_for_insert", "needs_for_update"]

Need = tuple[int, str]
"""``(entity id, entity permission)``: the caller needs this permission on that entity."""


def _resolve(store: EntityLookup, entity_id: int | None, name: str | None) -> int | None:
    """A stored entity a parent or property names (by id, else by a unique name)."""
    if entity_id is not None and entity_id > 0:
        return entity_id if store.get(entity_id) is not None else None
    if name:
        found = store.find_by_name(name)
        if len(found) == 1:
            return found[0].id
    return None


def _uses(draft: Entity, store: EntityLookup, old: Entity | None) -> Iterator[Need]:
    old_parents = {p.id for p in old.parents} if old is not None else set()
    for parent in draft.parents:
        target = _resolve(store, parent.id, parent.name)
        if target is not None and target not in old_parents:
            yield target, "USE:AS_PARENT"
    old_props = {p.id for p in old.properties} if old is not None else set()
    for prop in draft.properties:
        target = _resolve(store, prop.id, prop.name)
        if target is not None and target not in old_props:
            yield target, "USE:AS_PROPERTY"
    old_refs = _references(old) if old is not None else set()
    for target in _references(draft) - old_refs:
        if store.get(target) is not None:
            yield target, "USE:AS_REFERENCE"
    old_types = _datatypes(old) if old is not None else set()
    for name in _datatypes(draft) - old_types:
        found = store.find_by_name(name)
        if len(found) == 1 and found[0].id is not None:
            yield found[0].id, "USE:AS_DATA_TYPE"


def _references(entity: Entity) -> set[int]:
    """The ids the entity's reference properties point at (values are resolved to ids)."""
    found: set[int] = set()
    for prop in entity.properties:
        if not is_reference_datatype(prop.datatype):
            continue
        values = prop.value if isinstance(prop.value, list) else [prop.value]
        found.update(i for v in values if v is not None and (i := parse_id(v)) is not None)
    return found


def _datatypes(entity: Entity) -> set[str]:
    """The RecordTypes the entity and its properties use as data types."""
    names = {entity.datatype, *(p.datatype for p in entity.properties)}
    return {
        inner for name in names if name
        if (inner := list_element_datatype(name) or name).upper() not in ATOMIC_DATATYPES
    }


def needs_for_insert(draft: Entity, store: EntityLookup) -> list[Need]:
    """A new entity needs to be allowed to use its parents and properties."""
    return list(_uses(draft, store, None))


def _prop_key(prop: object) -> tuple[object, ...]:
    return tuple(getattr(prop, a) for a in ("id", "value", "unit", "importance", "datatype"))


def needs_for_update(
    draft: Entity,
    old: Entity,
    store: EntityLookup,
    stored_acl: Callable[[], Sequence[AclEntry]],
) -> list[Need]:
    """What changing ``old`` into ``draft`` needs (an update that changes nothing needs
    nothing)."""
    assert old.id is not None
    changed: list[str] = []
    if draft.role != old.role:
        changed.append("UPDATE:ROLE")
    for attr, permission in (("name", "UPDATE:NAME"), ("description", "UPDATE:DESCRIPTION"),
                             ("value", "UPDATE:VALUE"), ("unit", "UPDATE:VALUE"),
                             ("datatype", "UPDATE:DATA_TYPE")):
        if getattr(draft, attr) != getattr(old, attr) and permission not in changed:
            changed.append(permission)
    new_parents = {_resolve(store, p.id, p.name) for p in draft.parents}
    old_parents = {p.id for p in old.parents}
    if new_parents - old_parents:
        changed.append("UPDATE:PARENT:ADD")
    if old_parents - new_parents:
        changed.append("UPDATE:PARENT:REMOVE")
    new_props = sorted(map(repr, map(_prop_key, _with_ids(draft, store))))
    old_props = sorted(map(repr, map(_prop_key, old.properties)))
    if [p for p in new_props if p not in old_props]:
        changed.append("UPDATE:PROPERTY:ADD")
    if [p for p in old_props if p not in new_props]:
        changed.append("UPDATE:PROPERTY:REMOVE")
    if draft.upload is not None:
        changed.append("UPDATE:FILE:ADD")
        if old.path is not None:
            changed.append("UPDATE:FILE:REMOVE")
    elif draft.path is not None and old.path is not None and draft.path != old.path:
        changed.append("UPDATE:FILE:MOVE")
    if draft.acl is not None and not same_acl(draft.acl, stored_acl()):
        changed.append("EDIT:ACL")
    return [(old.id, p) for p in changed] + list(_uses(draft, store, old))


def _with_ids(draft: Entity, store: EntityLookup) -> list[object]:
    """The draft's properties with the ids their names resolve to (pylib may send names)."""
    import dataclasses

    return [
        p if p.id is not None else dataclasses.replace(p, id=_resolve(store, None, p.name))
        for p in draft.properties
    ]


def needs_for_delete(entity: Entity) -> list[Need]:
    assert entity.id is not None
    return [(entity.id, "DELETE")]
