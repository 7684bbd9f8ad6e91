"""Every error text and code the stand-in answers with, in one place.

The codes 101, 110, 114, 116 and 152 are the ones pylib maps to specific exceptions
(``linkahead/common/models.py``, ``_evaluate_and_add_error``), and code 10 is the deletion info
pylib looks for (``_deletion_sync``): verified. The description texts and every other code are
unconfirmed (the server's Java source was not available); change them here when a real server
shows otherwise.
"""

from __future__ import annotations

from typing import Literal

from sss_emulator.backend.model import Message

__all__ = [
    "admin_forbidden",
    "affiliation_not_allowed",
    "cannot_change_role",
    "circular_inheritance",
    "deleted",
    "does_not_exist",
    "file_not_uploaded",
    "has_no_datatype",
    "has_no_path",
    "invalid_value",
    "list_not_allowed",
    "name_not_unique",
    "not_authenticated",
    "not_permitted",
    "not_qualified",
    "obligatory_missing",
    "path_in_use",
    "query_error",
    "reference_ambiguous",
    "reference_does_not_exist",
    "reference_not_qualified",
    "role_does_not_exist",
    "still_referenced",
    "unknown_datatype",
    "unknown_role",
    "unqualified_parents",
    "unqualified_properties",
    "user_does_not_exist",
    "user_forbidden",
    "weak_password",
]


def does_not_exist() -> Message:
    """Code 101: pylib raises ``EntityDoesNotExistError``."""
    return Message("Error", 101, "Entity does not exist.")


def has_no_datatype() -> Message:
    """Code 110: pylib raises ``EntityHasNoDatatypeError``."""
    return Message("Error", 110, "Entity has no datatype.")


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


def reference_ambiguous(value: str) -> Message:
    """A reference given by a name several entities share (text and code unconfirmed: the
    server's ``ENTITY_NAME_DUPLICATES`` wording as remembered, no code pylib maps)."""
    return Message(
        "Error",
        0,
        f"This entity cannot be identified due to name duplicates: {value!r} names more than "
        "one entity. Refer to it by its id.",
    )


_PARSE_TEXTS = {
    "INTEGER": "Cannot parse value to integer.",
    "DOUBLE": "Cannot parse value to double.",
    "BOOLEAN": "Cannot parse value to boolean (either 'true' or 'false', case insensitive).",
    "DATETIME": "Cannot parse value to datetime format (yyyy-mm-dd'T'hh:mm:ss[.fffffffff]).",
}


def invalid_value(value: str, datatype: str) -> Message:
    """A value that does not parse as its datatype, on the property (code unconfirmed)."""
    text = _PARSE_TEXTS.get(datatype.upper(), f"Cannot parse value as {datatype}.")
    return Message("Error", 202, f"{text} Value: {value!r}.")


def not_qualified() -> Message:
    """On the ``<Response>`` of a failed write; pylib makes it ``TransactionError.msg``."""
    return Message(
        "Error",
        None,
        "One or more entities are not qualified. None of them have been "
        "inserted/updated/deleted.",
    )


def obligatory_missing(kind: Literal["Error", "Warning"] = "Error") -> Message:
    """An OBLIGATORY property of a parent is missing (text verified; code unconfirmed).

    With ``force-missing-obligatory=warn`` the same text comes as a Warning.
    """
    return Message(kind, 142, "An obligatory property is missing.")


def unknown_datatype(datatype: str) -> Message:
    """A datatype that is neither atomic nor an existing RecordType (code unconfirmed)."""
    return Message("Error", 113, f"Unknown datatype. Datatype: {datatype!r}.")


def list_not_allowed() -> Message:
    """A list value for a property whose datatype is no ``LIST<…>``."""
    return Message(
        "Error", 203, "This data type does not accept collections of values (e.g. Lists)."
    )


def reference_not_qualified(datatype: str) -> Message:
    """A reference to an entity that is not a child of the property's RecordType."""
    return Message(
        "Error",
        236,
        "Reference not qualified. The value of this Reference Property is to be a child of "
        f"its data type ({datatype}).",
    )


def affiliation_not_allowed(child_role: str, parent_role: str) -> Message:
    """On a parent that may not be this entity's parent (a Record as a RecordType's parent)."""
    return Message(
        "Error",
        117,
        "Affiliation is not defined for this child-parent constellation "
        f"({child_role} with a {parent_role} as parent).",
    )


def circular_inheritance() -> Message:
    """On a parent that already inherits from the entity (a decision: text unconfirmed)."""
    return Message("Error", 118, "Circular inheritance is not allowed: this parent is a child.")


def cannot_change_role(old: str, new: str) -> Message:
    """An update that turns e.g. a Record into a RecordType (a decision: text unconfirmed)."""
    return Message(
        "Error", 119, f"This entity cannot change its role (stored as {old}, sent as {new})."
    )


def file_not_uploaded(path: str) -> Message:
    """A new File without contents: no upload, nothing at its path."""
    return Message("Error", 182, f"File has not been uploaded. Path: {path}")


def has_no_path() -> Message:
    """A new File without a path."""
    return Message("Error", 183, "Entity has no path.")


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


def user_forbidden(user: str) -> Message:
    """403 for another user's record without the administration role."""
    return Message("Error", 403, f"You are not permitted to retrieve the user {user}.")


def user_does_not_exist(user: str) -> Message:
    """404 for a user neither the token nor the users file knows."""
    return Message("Error", 404, f"User does not exist: {user}.")


def not_permitted() -> Message:
    """Code 403 on an entity the caller may not write, use or retrieve: pylib raises
    ``AuthorizationError`` (inside a ``TransactionError``). The text is the server's
    ``AUTHORIZATION_ERROR`` as remembered (unconfirmed)."""
    return Message("Error", 403, "You are not allowed to do this.")


def admin_forbidden(what: str) -> Message:
    """403 on an administration resource (pylib: ``HTTPForbiddenError``)."""
    return Message("Error", 403, f"You are not permitted to {what}.")


def role_does_not_exist(role: str) -> Message:
    """404 for an unknown role."""
    return Message("Error", 404, f"Role does not exist: {role}.")


def weak_password() -> Message:
    """422 for a password the server's default policy refuses."""
    return Message(
        "Error", 422, "The password does not comply with the current policies for passwords: "
        "at least 8 characters, with an upper-case and a lower-case letter, a digit and a "
        "special character.")


def not_authenticated() -> Message:
    """401 body: no, forged, or unknown ``SessionToken`` cookie."""
    return Message(
        "Error", 401, "Please login. The SessionToken cookie is missing, invalid or expired."
    )
