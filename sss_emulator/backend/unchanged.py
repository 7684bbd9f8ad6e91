"""When an update changes nothing: the server keeps the entity's version then.

pylib sends an entity back as it retrieved it (a DOUBLE ``300`` comes back as ``300.0``, a date
in another spelling), so "the same" means the same values of their datatype, not the same text.
"""

from __future__ import annotations

import dataclasses

from sss_emulator.backend.model import Entity, PropertyValue, Value
from sss_emulator.backend.values import typed_key

__all__ = ["same_content", "unchanged_answer"]


def same_content(old: Entity, new: Entity) -> bool:
    """Whether a resolved update draft stores exactly what ``old`` holds: the same name,
    description, datatype, unit, value, parents, properties and file. Values compare as their
    datatype's values (``300`` and ``300.0`` are one DOUBLE), as the server's database does."""
    return (
        (old.role, old.name, old.description, old.datatype, old.unit)
        == (new.role, new.name, new.description, new.datatype, new.unit)
        and _value_keys(old.value, old.datatype) == _value_keys(new.value, new.datatype)
        and [p.id for p in old.parents] == [p.id for p in new.parents]
        and [_property_content(p) for p in old.properties]
        == [_property_content(p) for p in new.properties]
        and (old.path, old.checksum, old.size) == (new.path, new.checksum, new.size)
    )


def _property_content(prop: PropertyValue) -> tuple[object, ...]:
    return (prop.id, prop.name, prop.datatype, _value_keys(prop.value, prop.datatype),
            prop.unit, (prop.importance or "FIX").upper(), prop.description)


def _value_keys(value: Value, datatype: str | None) -> object:
    if isinstance(value, list):
        return [None if v is None else typed_key(v, datatype) for v in value]
    return None if value is None else typed_key(value, datatype)


def unchanged_answer(old: Entity, draft: Entity) -> Entity:
    """An update that changes nothing answers with the stored entity and its version, carrying
    the request's cuid and warnings, and the ACL it sent: an ACL is no part of the entity's
    version (``update_acl()`` sends the entity unchanged with a new ACL), so the caller still
    applies it."""
    return dataclasses.replace(
        old, cuid=draft.cuid, messages=[m for m in draft.messages if m.type != "Error"],
        acl=draft.acl if draft.acl is not None else old.acl,
    )
