"""Entities to and from the XML pylib sends and parses (``Entity.to_xml`` / ``_from_xml``).

Rendering fills in what pylib needs to convert values: each property carries its ``datatype``
(``DOUBLE``, a RecordType name for references, ``LIST<…>``), each parent its name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lxml import etree

from sss_emulator.backend import messages
from sss_emulator.backend.acl import entity_acl, parse_acl, render_acl
from sss_emulator.backend.model import (
    ROLES,
    AclEntry,
    Entity,
    EntityLookup,
    Message,
    ParentRef,
    Principal,
    PropertyValue,
    Value,
    is_reference_datatype,
)
from sss_emulator.wire import parse_id, user_info_element, xml_safe

__all__ = [
    "EntityXmlError",
    "Selection",
    "parse_entities",
    "render_entity",
    "render_message",
    "response_element",
    "selection",
    "to_bytes",
    "user_info",
]


class EntityXmlError(ValueError):
    """A request body that is not well-formed XML or not an Insert/Update of entities."""


def parse_entities(body: bytes, *, expect: Sequence[str]) -> list[Entity]:
    """Parse an ``<Insert>``/``<Update>`` body into drafts; unknown roles get an error message."""
    if not body.strip():
        raise EntityXmlError("The request body is empty; expected an XML <Insert> or <Update>.")
    try:
        root = etree.fromstring(
            body, parser=etree.XMLParser(resolve_entities=False, no_network=True)
        )
    except etree.XMLSyntaxError as err:
        raise EntityXmlError(f"The request body is not well-formed XML: {err}") from err
    if root.tag not in expect:
        raise EntityXmlError(
            f"Expected a <{'> or <'.join(expect)}> element as the body's root, got <{root.tag}>."
        )
    return [parse_entity(child) for child in root if isinstance(child.tag, str)]


def parse_entity(elem: etree._Element) -> Entity:
    """One entity element (as pylib's ``Entity.to_xml`` writes it) into a draft."""
    tag = str(elem.tag)
    role = tag if tag in ROLES else "Record"
    draft = Entity(
        id=_int_or_none(elem.get("id")),
        role=role,
        name=elem.get("name"),
        description=elem.get("description"),
        datatype=elem.get("datatype"),
        unit=elem.get("unit"),
        path=elem.get("path"),
        cuid=elem.get("cuid"),
    )
    if tag not in ROLES:
        draft.messages.append(messages.unknown_role(tag))
    draft.upload_ref = elem.get("upload")
    draft.flags = parse_flags(elem.get("flag"))
    for child in elem:
        ctag = child.tag
        if ctag == "Parent":
            inheritance = (parse_flags(child.get("flag")) or {}).get("inheritance")
            draft.parents.append(
                ParentRef(
                    id=_int_or_none(child.get("id")),
                    name=child.get("name"),
                    inheritance=inheritance or None,
                )
            )
        elif ctag == "Property":
            draft.properties.append(
                PropertyValue(
                    id=_int_or_none(child.get("id")),
                    name=child.get("name"),
                    datatype=child.get("datatype"),
                    value=_parse_value(child),
                    unit=child.get("unit"),
                    importance=child.get("importance"),
                    description=child.get("description"),
                )
            )
        elif ctag == "EntityACL":
            draft.acl = parse_acl(child)
    if role == "Property":
        draft.value = _parse_value(elem)
    return draft


def parse_flags(raw: str | None) -> dict[str, str] | None:
    """pylib's ``flag`` attribute: ``key:value,key,`` (a key without value maps to "")."""
    if not raw:
        return None
    flags: dict[str, str] = {}
    for item in raw.split(","):
        key, _sep, value = item.partition(":")
        if key.strip():
            flags[key.strip().lower()] = value.strip()
    return flags or None


Selection = Mapping[str, "Selection"]
"""SELECT's paths as a tree of lower-cased property names (``*``: every property)."""


def selection(paths: Iterable[Sequence[str]]) -> Selection:
    """``[("a", "b"), ("c",)]`` -> ``{"a": {"b": {}}, "c": {}}``."""
    tree: dict[str, Any] = {}
    for path in paths:
        level = tree
        for name in path:
            level = level.setdefault(name.lower(), {})
    return tree


def render_entity(
    entity: Entity,
    store: EntityLookup,
    *,
    only: Selection | None = None,
    history: bool = False,
    acl: bool | Sequence[AclEntry] = False,
) -> etree._Element:
    """An entity element as the server sends it.

    ``only`` limits properties (SELECT); a path ``a.b`` renders the entity ``a`` references
    inside the property, itself limited to ``b``. ``history`` adds the whole version history
    (the ``H`` flag), ``acl`` the ``<EntityACL>`` (the ``ACL`` flag): the entries given, or
    with ``True`` the owner ACL of whoever inserted the entity.
    """
    elem = etree.Element(entity.role)
    _set(elem, "id", entity.id)
    _set(elem, "cuid", entity.cuid)
    _set(elem, "name", entity.name)
    _set(elem, "description", entity.description)
    _set(elem, "datatype", entity.datatype)
    _set(elem, "unit", entity.unit)
    _set(elem, "path", entity.path)
    _set(elem, "checksum", entity.checksum)
    _set(elem, "size", entity.size)
    for message in entity.messages:
        elem.append(render_message(message))
    chain = store.versions_of(entity.id) if entity.id is not None else []
    if entity.version is not None and chain:
        elem.append(_render_version(entity, chain, history))
    if acl is not False and acl is not True:
        elem.append(render_acl(acl))
    elif acl and chain and chain[0].version is not None:
        first = chain[0].version
        elem.append(render_acl(entity_acl((first.username, first.realm))))
    for parent in entity.parents:
        pel = etree.SubElement(elem, "Parent")
        parent_entity = store.get(parent.id) if parent.id is not None else None
        _set(pel, "id", parent.id)
        _set(pel, "name", parent_entity.name if parent_entity else parent.name)
        _set(pel, "description", parent_entity.description if parent_entity else None)
        for message in parent.messages:
            pel.append(render_message(message))
    everything = only is None or "*" in only
    for prop in entity.properties:
        deeper: Selection = {}
        if only is not None:
            key = (prop.name or "").lower()
            if key not in only and not everything:
                continue
            deeper = only.get(key, {})
        pel = etree.SubElement(elem, "Property")
        _set(pel, "id", prop.id)
        _set(pel, "name", prop.name)
        _set(pel, "description", prop.description)
        _set(pel, "datatype", prop.datatype)
        _set(pel, "unit", prop.unit)
        pel.set("importance", prop.importance or "FIX")
        for message in prop.messages:
            pel.append(render_message(message))
        if deeper and is_reference_datatype(prop.datatype):
            _render_referenced(pel, prop.value, store, deeper)
        else:
            _render_value(pel, prop.value)
    if entity.role == "Property":
        _render_value(elem, entity.value)
    return elem


def _render_version(entity: Entity, chain: list[Entity], complete: bool) -> etree._Element:
    """``<Version id date username realm head>`` with the neighbouring versions (all of them,
    nested, for the ``H`` flag) as ``<Predecessor>``/``<Successor>``, as pylib's ``Version``
    reads them."""
    assert entity.version is not None
    seqs = [e.version.seq if e.version else 0 for e in chain]
    index = seqs.index(entity.version.seq) if entity.version.seq in seqs else len(chain) - 1
    elem = _version_element("Version", chain[index])
    elem.set("head", "true" if index == len(chain) - 1 else "false")
    if complete:
        elem.set("completeHistory", "true")
    outer = elem
    for older in reversed(chain[:index] if complete else chain[max(0, index - 1) : index]):
        outer = etree.SubElement(outer, "Predecessor", attrib=_version_element("x", older).attrib)
    outer = elem
    newer = chain[index + 1 :] if complete else chain[index + 1 : index + 2]
    for later in newer:
        outer = etree.SubElement(outer, "Successor", attrib=_version_element("x", later).attrib)
    return elem


def _version_element(tag: str, entity: Entity) -> etree._Element:
    version = entity.version
    assert version is not None
    return etree.Element(
        tag,
        id=version.version_id(entity.id),
        date=version.date,
        username=version.username,
        realm=version.realm,
    )


def render_message(message: Message) -> etree._Element:
    """``<Error code=… description=…/>`` and its Warning/Info siblings."""
    elem = etree.Element(message.type)
    if message.code is not None:
        elem.set("code", str(message.code))
    elem.set("description", xml_safe(message.description))
    return elem


def response_element(principal: Principal | None = None) -> etree._Element:
    """An empty ``<Response>``, with the caller's ``UserInfo`` as the server adds to each answer."""
    root = etree.Element("Response")
    if principal is not None:
        root.append(user_info(principal))
    return root


def user_info(principal: Principal) -> etree._Element:
    """``<UserInfo username realm><Roles><Role>…`` which pylib's ``UserInfo`` reads."""
    return user_info_element(principal.name, principal.realm, principal.roles)


def to_bytes(root: etree._Element) -> bytes:
    """Serialise with the XML declaration the server sends."""
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _render_referenced(
    elem: etree._Element, value: Value, store: EntityLookup, only: Selection
) -> None:
    """SELECT ``a.b``: the entities ``a`` references, nested in its element (pylib reads an
    entity child as the value), limited to ``b``."""

    def one(parent: etree._Element, item: str | None) -> None:
        number = None if item is None else parse_id(item)
        target = None if number is None else store.get(number)
        if target is None:
            _render_value(parent, item)
        else:
            parent.append(render_entity(target, store, only=only))

    if isinstance(value, list):
        for item in value:
            one(etree.SubElement(elem, "Value"), item)
    elif value is not None:
        one(elem, value)


def _render_value(elem: etree._Element, value: Value) -> None:
    if value is None:
        return
    if isinstance(value, list):
        for item in value:
            vel = etree.SubElement(elem, "Value")
            if item == "":
                etree.SubElement(vel, "EmptyString")
            elif item is not None:
                vel.text = item
    elif value == "":
        etree.SubElement(elem, "EmptyString")
    else:
        elem.text = value


def _parse_value(elem: etree._Element) -> Value:
    values = [c for c in elem if c.tag in ("Value", "EmptyString")]
    if any(c.tag == "Value" for c in values):
        out: list[str | None] = []
        for child in values:
            if any(g.tag == "EmptyString" for g in child):
                out.append("")
            elif child.text is None or not child.text.strip():
                out.append(None)
            else:
                out.append(child.text.strip())
        return out
    if values:
        return ""
    text = (elem.text or "").strip()
    return text or None


def _int_or_none(raw: str | None) -> int | None:
    if raw is None or not raw.strip():
        return None
    return parse_id(raw.split("@", 1)[0].strip())


def _set(elem: etree._Element, key: str, value: object) -> None:
    if value is not None:
        elem.set(key, str(value))
