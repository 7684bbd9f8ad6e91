"""The stand-in's entity records: plain data shared by the store, the XML codec and the loaders.

Values are kept as the strings the server would send (``"1.5"``, ``"TRUE"``, a referenced id), so
that what a script reads back is what a real server would have answered, whatever Python type it
inserted.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from sss_emulator.shiro import Rule

__all__ = [
    "ATOMIC_DATATYPES",
    "ROLES",
    "AclEntry",
    "Entity",
    "EntityLookup",
    "EntityWriter",
    "Message",
    "ParentRef",
    "Principal",
    "PropertyValue",
    "Role",
    "RoleRecord",
    "UserRecord",
    "Value",
    "Version",
    "is_reference_datatype",
    "list_element_datatype",
]


class Principal(Protocol):
    """Who a request acts as; the emulator's token type satisfies this (read-only is enough)."""

    @property
    def name(self) -> str: ...

    @property
    def realm(self) -> str: ...

    @property
    def roles(self) -> Sequence[str]: ...


Role = Literal["Record", "RecordType", "Property", "File", "Entity"]
"""``Entity`` only tags answers for ids or names that match nothing."""
ROLES: tuple[Role, ...] = ("Record", "RecordType", "Property", "File")

Value = str | list[str | None] | None
"""A value as the server sends it: one string, a list (``LIST<…>``), or none."""

ATOMIC_DATATYPES = frozenset(
    {"TEXT", "DOUBLE", "INTEGER", "BOOLEAN", "DATETIME", "REFERENCE", "FILE"}
)


def list_element_datatype(datatype: str | None) -> str | None:
    """Return ``T`` for ``LIST<T>`` (the server's list spelling), else None."""
    if datatype and datatype.upper().startswith("LIST<") and datatype.endswith(">"):
        return datatype[5:-1]
    return None


def is_reference_datatype(datatype: str | None) -> bool:
    """Tell whether values of this datatype are entity ids (a RecordType name, FILE, REFERENCE)."""
    if datatype is None:
        return False
    inner = list_element_datatype(datatype) or datatype
    return inner.upper() in {"REFERENCE", "FILE"} or inner.upper() not in ATOMIC_DATATYPES


@dataclass(frozen=True, slots=True)
class Version:
    """One version of an entity: the transaction that wrote it.

    One object is shared by every entity a transaction wrote (the id differs per entity: it is
    derived from the entity id), which keeps a 10,000-record insert cheap.
    """

    seq: int
    """1 for the insert, +1 for each update."""
    date_ns: int
    username: str
    realm: str

    def version_id(self, entity_id: int | None) -> str:
        """The opaque version id (40 hex digits, like the server's)."""
        return hashlib.sha1(
            f"{entity_id}:{self.seq}:{self.date_ns}".encode(), usedforsecurity=False
        ).hexdigest()

    @property
    def date(self) -> str:
        """The transaction time as the server writes it (ISO 8601, milliseconds, offset)."""
        moment = datetime.fromtimestamp(self.date_ns / 1e9).astimezone()
        return moment.isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class UserRecord:
    """A user the stand-in can answer ``GET User/<realm>/<name>`` for (from the users file)."""

    name: str
    realm: str = "PAM"
    email: str | None = None
    roles: tuple[str, ...] = ()
    status: str = "ACTIVE"
    password: str | None = field(default=None, repr=False)
    """The users file's password of this user, as written there (in memory only: never kept
    in a ``--db`` file)."""
    entity: str | None = None
    """The id of the entity that stands for this user (``PUT User`` with ``entity``)."""
    password_hash: str | None = field(default=None, repr=False)
    """A password set through the API, as :func:`sss_emulator.passwords.hash_password` keeps
    it (it replaces :attr:`password`; a user with neither has no password login)."""


@dataclass(frozen=True)
class RoleRecord:
    """A role: its description and its permission rules (``PermissionRules/<role>``)."""

    name: str
    description: str = ""
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True, slots=True)
class AclEntry:
    """One ``<Grant>``/``<Deny>`` of an ``<EntityACL>``: for a role or for a user."""

    kind: Literal["Grant", "Deny"]
    priority: bool
    role: str | None
    username: str | None
    realm: str | None
    permissions: tuple[str, ...]


@dataclass(slots=True)
class Message:
    """An ``<Error>``/``<Warning>``/``<Info>`` element attached to an entity or a response."""

    type: Literal["Error", "Warning", "Info"]
    code: int | None
    description: str


@dataclass(slots=True)
class ParentRef:
    """A parent link, stored by id; the name is filled in when rendering."""

    id: int | None
    name: str | None = None
    messages: list[Message] = field(default_factory=list)
    inheritance: str | None = None
    """The request's ``inheritance`` flag (which parent properties to copy); not stored."""


@dataclass(slots=True)
class PropertyValue:
    """A property of an entity: the id of its defining Property/RecordType plus this use's data."""

    id: int | None
    name: str | None
    datatype: str | None
    value: Value = None
    unit: str | None = None
    importance: str | None = None
    description: str | None = None
    messages: list[Message] = field(default_factory=list)


@dataclass(slots=True)
class Entity:
    """One stored entity (Record, RecordType, Property or File)."""

    id: int | None
    role: Role
    name: str | None = None
    description: str | None = None
    datatype: str | None = None
    unit: str | None = None
    value: Value = None
    parents: list[ParentRef] = field(default_factory=list)
    properties: list[PropertyValue] = field(default_factory=list)
    path: str | None = None
    checksum: str | None = None
    size: int | None = None
    cuid: str | None = None
    messages: list[Message] = field(default_factory=list)
    upload: bytes | None = field(default=None, repr=False)
    upload_ref: str | None = field(default=None, repr=False)
    """The multipart file part an Insert/Update names in its ``upload`` attribute."""
    flags: dict[str, str] | None = field(default=None, repr=False)
    """Per-entity request flags (``flag="force-missing-obligatory:ignore,"``); not stored."""
    version: Version | None = field(default=None, repr=False)
    """The version this entity object is (None only for a draft)."""
    acl: tuple[AclEntry, ...] | None = field(default=None, repr=False)
    """An ``<EntityACL>`` a request sent; the access control keeps it, not the entity."""

    def clone(self) -> Entity:
        """A copy whose lists can be changed freely (far cheaper than ``copy.deepcopy``)."""
        return dataclasses.replace(
            self,
            value=_copy_value(self.value),
            parents=[dataclasses.replace(p, messages=list(p.messages)) for p in self.parents],
            properties=[
                dataclasses.replace(p, value=_copy_value(p.value), messages=list(p.messages))
                for p in self.properties
            ],
            messages=list(self.messages),
        )

    def to_json(self) -> dict[str, Any]:
        """Serialise for the SQLite file (messages and cuid are per-request, not stored)."""
        data = dataclasses.asdict(self)
        data.pop("messages")
        data.pop("cuid")
        data.pop("upload")
        data.pop("upload_ref")
        data.pop("flags")
        data.pop("acl")
        for part in (*data["parents"], *data["properties"]):
            part.pop("messages")
        for parent in data["parents"]:
            parent.pop("inheritance")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entity:
        """Rebuild an entity written by :meth:`to_json`."""
        data = dict(data)
        data["parents"] = [ParentRef(**p) for p in data.get("parents", [])]
        data["properties"] = [PropertyValue(**p) for p in data.get("properties", [])]
        if data.get("version") is not None:
            data["version"] = Version(**data["version"])
        return cls(**data)

    def summary(self, parent_names: list[str]) -> dict[str, Any]:
        """The small dict ``store.changes`` lists, so tests can assert on what a script did."""
        return {"id": self.id, "role": self.role, "name": self.name, "parents": parent_names}


def _copy_value(value: Value) -> Value:
    return list(value) if isinstance(value, list) else value


class EntityLookup(Protocol):
    """What the XML codec and transactions read of a store (``EntityStore`` is one)."""

    def get(self, entity_id: int) -> Entity | None: ...

    def find_by_name(self, name: str) -> list[Entity]: ...

    def path_owner(self, path: str) -> Entity | None: ...

    def read_blob(self, path: str) -> bytes | None: ...

    def versions_of(self, entity_id: int) -> list[Entity]:
        """Every stored version of an entity, oldest first (the last one is the head)."""
        ...


class EntityWriter(EntityLookup, Protocol):
    """What the data-file loaders need of a store: read, and insert all-or-nothing."""

    def insert(
        self,
        drafts: list[Entity],
        *,
        unique_names: bool = True,
        keep_ids: bool = False,
        record_changes: bool = True,
    ) -> tuple[list[Entity], bool]: ...

