"""Entity ACLs as the server writes and reads them: ``<EntityACL>``, the owner ACL of an entity
inserted without one, the global entity permissions and ``GET EntityPermissions``.

Which ACL an entity has and what it allows is :mod:`sss_emulator.backend.access`'s business;
this module is the data and its XML.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sss_emulator import decisions
from sss_emulator.backend.model import AclEntry

if TYPE_CHECKING:  # lxml loads when an ACL is rendered or parsed, not with the access checks
    from lxml import etree

__all__ = [
    "entity_acl",
    "global_acl",
    "parse_acl",
    "render_acl",
    "render_entity_permissions",
    "same_acl",
]


def entity_acl(owner: tuple[str, str] | None) -> tuple[AclEntry, ...]:
    """The ACL of an entity ``owner`` (username, realm) inserted."""
    if owner is None:
        return ()
    return tuple(
        AclEntry("Grant", False, None, owner[0], owner[1], perms)
        for perms in (decisions.ENTITY_ACL_OWNER_PERMISSIONS,)
    )


def global_acl() -> tuple[AclEntry, ...]:
    """The server-wide default ACL (``global_entity_permissions.xml``)."""
    return tuple(
        AclEntry(kind, priority, role, None, None, tuple(perms))  # type: ignore[arg-type]
        for kind, priority, role, perms in decisions.GLOBAL_ENTITY_ACL
    )


def render_acl(entries: Iterable[AclEntry]) -> etree._Element:
    """``<EntityACL><Grant priority role|username realm><Permission name/>…``."""
    from lxml import etree

    root = etree.Element("EntityACL")
    for entry in entries:
        elem = etree.SubElement(root, entry.kind, priority="true" if entry.priority else "false")
        if entry.role is not None:
            elem.set("role", entry.role)
        if entry.username is not None:
            elem.set("username", entry.username)
        if entry.realm is not None:
            elem.set("realm", entry.realm)
        for permission in entry.permissions:
            etree.SubElement(elem, "Permission", name=permission)
    return root


def parse_acl(elem: etree._Element) -> tuple[AclEntry, ...]:
    """An ``<EntityACL>`` as pylib's ``ACL.to_xml`` writes it (``priority="True"`` …)."""
    entries: list[AclEntry] = []
    for child in elem:
        if child.tag not in ("Grant", "Deny"):
            continue
        permissions = tuple(
            sorted(str(p.get("name")) for p in child if p.tag == "Permission" and p.get("name"))
        )
        entries.append(
            AclEntry(
                "Grant" if child.tag == "Grant" else "Deny",
                (child.get("priority") or "false").lower() == "true",
                child.get("role"),
                child.get("username"),
                child.get("realm") if child.get("username") else None,
                permissions,
            )
        )
    return tuple(entries)


def same_acl(sent: Iterable[AclEntry], stored: Iterable[AclEntry]) -> bool:
    """Whether an ACL a request sent is the stored one (order of entries and permissions aside)."""

    def key(entries: Iterable[AclEntry]) -> frozenset[tuple[object, ...]]:
        return frozenset(
            (e.kind, e.priority, e.role, e.username, e.realm, frozenset(e.permissions))
            for e in entries
            if e.permissions
        )

    return key(sent) == key(stored)


def render_entity_permissions() -> etree._Element:
    """``GET EntityPermissions``: the known permissions and the global ACL (pylib's
    ``sync_global_acl``)."""
    from lxml import etree

    root = etree.Element("EntityPermissions")
    for name, description in decisions.ENTITY_PERMISSIONS:
        etree.SubElement(root, "Permission", name=name, description=description)
    root.append(render_acl(global_acl()))
    return root
