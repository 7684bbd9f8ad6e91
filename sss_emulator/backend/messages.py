"""Every error text and code the stand-in answers with, in one place.

The codes 101, 110, 114, 116 and 152 are the ones pylib maps to specific exceptions
(``linkahead/common/models.py``, ``_evaluate_and_add_error``), and code 10 is the deletion info
pylib looks for (``_deletion_sync``): verified. The description texts and every other code are
unconfirmed (the server's Java source was not available); change them here when a real server
shows otherwise.
"""

from __future__ import annotations

from sss_emulator.backend.model import Message

__all__ = [
    "deleted",
    "does_not_exist",
    "has_no_datatype",
    "invalid_value",
    "name_not_unique",
    "not_authenticated",
    "path_in_use",
    "query_error",
    "reference_does_not_exist",
    "still_referenced",
    "unknown_role",
    "unqualified_parents",
    "unqualified_properties",
]


def does_not_exist() -> Message:
    """Code 101: pylib raises ``EntityDoesNotExistError``."""
    return Message("Error", 101, "Entity does not exist.")


def has_no_datatype() -> Message:
    """Code 110: pylib raises ``EntityHasNoDatatypeError``."""
    return Message("Error", 110, "Property has no datatype.")


def unqualified_properties() -> Message:
    """Code 114, on the entity whose properties carry their own errors."""
    return Message("Error", 114, "Entity has unqualified properties.")


def unqualified_parents() -> Message:
    """Code 116, on the entity whose parents carry their own errors."""
    return Message("Error", 116, "Entity has unqualified parents.")


def name_not_unique() -> Message:
    """Code 152: pylib raises ``UniqueNamesError``."""
    return Message("Error", 152, "Name is already in use. Choose a different name.")


def deleted() -> Message:
    """Code 10: the info pylib needs to mark a local entity deleted."""
    return Message("Info", 10, "This entity has been deleted successfully.")


def reference_does_not_exist(value: str) -> Message:
    """A reference property pointing at no entity (code unconfirmed)."""
    return Message("Error", 235, f"Referenced entity does not exist: {value!r}.")


def invalid_value(value: str, datatype: str) -> Message:
    """A value that does not parse as its datatype (code unconfirmed)."""
    return Message("Error", 202, f"Cannot parse value {value!r} as {datatype}.")


def still_referenced(ids: list[int]) -> Message:
    """Deleting an entity others still use (code unconfirmed)."""
    users = ", ".join(str(i) for i in ids)
    return Message(
        "Error", 131, f"Entity is required by other entities which are not to be deleted: {users}."
    )


def path_in_use(path: str) -> Message:
    """A file path another File entity already has (code unconfirmed)."""
    return Message("Error", 181, f"This target path does already exist: {path}")


def unknown_role(tag: str) -> Message:
    """An element in an Insert/Update body that is no entity."""
    return Message(
        "Error", 0, f"Unknown entity role <{tag}>; use Record, RecordType, Property or File."
    )


def query_error(description: str) -> Message:
    """A query the stand-in cannot parse or does not support (code unconfirmed)."""
    return Message("Error", 2, description)


def not_authenticated() -> Message:
    """401 body: no, forged, or unknown ``SessionToken`` cookie."""
    return Message(
        "Error", 401, "Please login. The SessionToken cookie is missing, invalid or expired."
    )
