"""User, role and permission administration: the server's ``User``, ``UserRoles``, ``Role`` and
``PermissionRules`` resources, as pylib's ``linkahead.common.administration`` and
``linkahead_admin.py`` call them.

Each request needs the server's ``ACM:…`` role permission for what it does (the role-permission
table: ``ACM:USER:INSERT:<realm>``, ``ACM:USER:UPDATE:EMAIL:<realm>:<user>``,
``ACM:ROLE:UPDATE:PERMISSIONS:<role>`` …); ``administration`` has them all, and a user may read
their own account and set their own password (:data:`decisions.SELF_SERVICE_PERMISSIONS`).
Without it the answer is 403 (pylib: ``HTTPForbiddenError``); an unknown user or role is 404
(``HTTPResourceNotFoundError``); a name in use or an unknown role to assign is 409.

The body of a ``POST``/``PUT`` is read only once the caller is known to be allowed to ask
(``read``): a caller without the permission is refused before a byte of it is read, so an
anonymous caller's endless body costs nothing.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping

from lxml import etree

from sss_emulator import decisions
from sss_emulator.backend import messages
from sss_emulator.backend.access import AccessControl
from sss_emulator.backend.entity_xml import response_element
from sss_emulator.backend.model import Message, Principal, RoleRecord, UserRecord
from sss_emulator.passwords import hash_password
from sss_emulator.shiro import Rule
from sss_emulator.wire import xml_safe

__all__ = ["AdminAnswer", "AdminBody", "administer"]

AdminAnswer = tuple[int, etree._Element | Message]
"""An HTTP status with the ``<Response>`` to send, or with the error to send."""

AdminBody = tuple[Mapping[str, str], bytes]
"""A request's body: its urlencoded form, or its bytes (XML) with an empty form."""

#: The server's default password policy (``PASSWORD_VALID_REGEX`` of its server.conf); pylib's
#: ``generate_password`` makes passwords that pass exactly this.
_PASSWORD = re.compile(r"(?=.*[a-z])(?=.*[A-Z])(?=.*\d)(?=.*[\W_]).{8,}")


def administer(
    access: AccessControl,
    principal: Principal,
    method: str,
    head: str,
    rest: str,
    read: Callable[[], AdminBody],
) -> AdminAnswer | None:
    """Answer one administration request; None for a method/resource it does not know.

    ``read`` reads the body; it is called only after the permission checks passed (what it
    raises, such as a too-large body, goes to the caller).
    """
    if xml_safe(rest) != rest:
        return _NOT_XML
    admin = _Admin(access, principal, read)
    try:
        return admin.answer(method, head, rest)
    except _Refused as refused:
        return refused.answer


_NOT_XML: AdminAnswer = (400, Message("Error", 400, "User names, role names and the form's "
                                                    "values must be text XML can carry (no "
                                                    "control characters)."))


class _Refused(Exception):
    """A body that was read and cannot be used (its form holds what XML cannot carry)."""

    def __init__(self, answer: AdminAnswer) -> None:
        super().__init__(answer)
        self.answer = answer


class _Admin:
    def __init__(self, access: AccessControl, principal: Principal,
                 read: Callable[[], AdminBody]) -> None:
        self.access = access
        self.principal = principal
        self.caller = access.caller(principal)
        self._read = read

    def answer(self, method: str, head: str, rest: str) -> AdminAnswer | None:
        if head == "User":
            if method == "POST" and not rest:
                return self.insert_user()
            if rest and method in ("GET", "PUT", "DELETE"):
                return self.user(method, rest)
        if head == "UserRoles" and rest and method in ("GET", "PUT"):
            return self.user_roles(method, rest)
        if head == "Role":
            if method == "POST" and not rest:
                return self.insert_role()
            if rest and method in ("GET", "PUT", "DELETE"):
                return self.role(method, rest)
        if head == "PermissionRules" and rest and method in ("GET", "PUT"):
            return self.permission_rules(method, rest)
        return None

    def _form(self) -> Mapping[str, str]:
        """The request's form, read now (after the permission checks)."""
        form, _body = self._read()
        if any(xml_safe(text) != text for text in (*form.keys(), *form.values())):
            raise _Refused(_NOT_XML)
        return form

    def _body(self) -> bytes:
        """The request's body (XML), read now (after the permission checks)."""
        return self._read()[1]

    def _may(self, permission: str, user: UserRecord | None = None) -> bool:
        own = user is not None and (user.name, user.realm) == (self.caller.name,
                                                                self.caller.realm)
        if own and any(permission.startswith(p + ":")
                       for p in decisions.SELF_SERVICE_PERMISSIONS):
            return True
        return self.access.role_permitted(self.caller, permission)

    def _root(self) -> etree._Element:
        return response_element(self.principal)

    # ----------------------------------------------------------------- users
    def _find_user(self, rest: str) -> UserRecord | None:
        realm, _sep, name = rest.rpartition("/")
        found = self.access.user(name, realm or None)
        if found is None and (name, realm or self.caller.realm) == (self.caller.name,
                                                                    self.caller.realm):
            # a caller the users file does not list (``--user bob``) is still a user
            found = UserRecord(self.caller.name, self.caller.realm, roles=self.caller.roles)
        return found

    def _user_or_refusal(self, rest: str, permission: str) -> UserRecord | AdminAnswer:
        """The user ``rest`` names, or the answer when there is none: the server checks
        ``permission`` before telling whether the user exists (403, else 404)."""
        user = self._find_user(rest)
        if user is not None:
            return user
        if not self.access.role_permitted(self.caller, permission):
            return 403, messages.user_forbidden(rest)
        return 404, messages.user_does_not_exist(rest)

    def insert_user(self) -> AdminAnswer:
        realm = decisions.API_USER_REALM
        if not self._may(f"ACM:USER:INSERT:{realm}"):
            return 403, messages.admin_forbidden(f"insert a user into the realm {realm}")
        form = self._form()
        name = form.get("username", "").strip()
        if not name:
            return 400, Message("Error", 400, "No username given; send the form field "
                                              "'username'.")
        if self.access.user(name) is not None:
            return 409, Message("Error", 409, f"User name is already in use: {name}.")
        password = form.get("password")
        if password is not None and not _PASSWORD.fullmatch(password):
            return 422, messages.weak_password()
        user = UserRecord(name, realm, form.get("email") or None, (),
                          form.get("status") or "INACTIVE", None, form.get("entity") or None,
                          password_hash=hash_password(password) if password else None)
        self.access.put_user(user)
        return 200, self._user_element(user)

    def _user_element(self, user: UserRecord) -> etree._Element:
        root = self._root()
        elem = etree.SubElement(root, "User", name=user.name, realm=user.realm)
        if user.email:
            elem.set("email", user.email)
        if user.entity:
            elem.set("entity", user.entity)
        elem.set("status", user.status)
        return root

    def user(self, method: str, rest: str) -> AdminAnswer:
        user = self._user_or_refusal(rest, "ACM:USER:RETRIEVE:INFO")
        if isinstance(user, tuple):
            return user
        who = f"{user.realm}:{user.name}"
        if method == "GET":
            if not self._may(f"ACM:USER:RETRIEVE:INFO:{who}", user):
                return 403, messages.user_forbidden(rest)
            if (user.name, user.realm) == (self.caller.name, self.caller.realm):
                user = dataclasses.replace(user, roles=self.caller.roles)
            return 200, self._user_element(user)
        if method == "DELETE":
            if not self._may(f"ACM:USER:DELETE:{who}", user):
                return 403, messages.admin_forbidden(f"delete the user {rest}")
            self.access.delete_user(user)
            return 200, self._user_element(user)
        fields = (("password", f"ACM:USER:UPDATE_PASSWORD:{who}"),
                  ("email", f"ACM:USER:UPDATE:EMAIL:{who}"),
                  ("status", f"ACM:USER:UPDATE:STATUS:{who}"),
                  ("entity", f"ACM:USER:UPDATE:ENTITY:{who}"))
        if not any(self._may(permission, user) for _field, permission in fields):
            # which fields come is only known from the body: a caller who may change none
            # is refused before it is read
            return 403, messages.admin_forbidden(f"update the user {rest}")
        form = self._form()
        changes: dict[str, str | None] = {}
        for field, permission in fields:
            if field not in form:
                continue
            if not self._may(permission, user):
                return 403, messages.admin_forbidden(f"update the {field} of the user {rest}")
            changes[field] = form[field] or None
        if "status" in changes and changes["status"] not in ("ACTIVE", "INACTIVE"):
            return 400, Message("Error", 400, "The status of a user is ACTIVE or INACTIVE.")
        password = changes.get("password")
        if password is not None and not _PASSWORD.fullmatch(password):
            return 422, messages.weak_password()
        if "password" in changes:  # kept only as a salted hash, never as given
            changes.pop("password")
            user = dataclasses.replace(
                user, password=None, password_hash=hash_password(password) if password else None)
        user = dataclasses.replace(user, **changes)  # type: ignore[arg-type]
        self.access.put_user(user)
        return 200, self._user_element(user)

    def user_roles(self, method: str, rest: str) -> AdminAnswer:
        user = self._user_or_refusal(rest, "ACM:USER:RETRIEVE:ROLES")
        if isinstance(user, tuple):
            return user
        who = f"{user.realm}:{user.name}"
        if method == "PUT":
            if not self._may(f"ACM:USER:UPDATE:ROLES:{who}", user):
                return 403, messages.admin_forbidden(f"set the roles of the user {rest}")
            try:
                sent = etree.fromstring(self._body())
            except etree.XMLSyntaxError as err:
                return 400, Message("Error", 400, f"The roles are no XML: {err}")
            wanted = tuple(dict.fromkeys(str(r.get("name")) for r in sent.iter("Role")
                                         if r.get("name")))
            for role in wanted:
                if self.access.role(role) is None:
                    return 409, Message("Error", 409, f"Role does not exist: {role}.")
                if role not in user.roles and not self._may(f"ACM:ROLE:ASSIGN:{role}"):
                    return 403, messages.admin_forbidden(f"assign the role {role}")
            user = dataclasses.replace(user, roles=wanted)
            if self.access.user(user.name, user.realm) is not None:
                self.access.put_user(user)
        elif not self._may(f"ACM:USER:RETRIEVE:ROLES:{who}", user):
            return 403, messages.user_forbidden(rest)
        root = etree.Element("Response")  # pylib reads the first child as the roles
        roles = etree.SubElement(root, "Roles")
        for role in user.roles:
            etree.SubElement(roles, "Role", name=role)
        return 200, root

    # ----------------------------------------------------------------- roles
    def insert_role(self) -> AdminAnswer:
        if not self._may("ACM:ROLE:INSERT"):
            return 403, messages.admin_forbidden("insert a role")
        form = self._form()
        name = form.get("role_name", "").strip()
        if not name:
            return 400, Message("Error", 400, "No role name given; send 'role_name'.")
        if self.access.role(name) is not None:
            return 409, Message("Error", 409, "Role name is already in use. Choose a "
                                              "different name.")
        role = RoleRecord(name, form.get("role_description", ""))
        self.access.put_role(role)
        return 200, self._role_element(role)

    def _role_element(self, role: RoleRecord) -> etree._Element:
        root = self._root()
        etree.SubElement(root, "Role", name=role.name, description=role.description)
        return root

    def role(self, method: str, name: str) -> AdminAnswer:
        action = {"GET": "RETRIEVE:DESCRIPTION", "PUT": "UPDATE:DESCRIPTION",
                  "DELETE": "DELETE"}[method]
        if not self._may(f"ACM:ROLE:{action}:{name}"):
            return 403, messages.admin_forbidden(f"{method.lower()} the role {name}")
        role = self.access.role(name)
        if role is None:
            return 404, messages.role_does_not_exist(name)
        if method == "PUT":
            description = self._form().get("role_description", "")
            role = dataclasses.replace(role, description=description)
            self.access.put_role(role)
        elif method == "DELETE":
            if name in decisions.BUILT_IN_ROLES:
                return 403, messages.admin_forbidden(f"delete the built-in role {name}")
            self.access.delete_role(name)
        return 200, self._role_element(role)

    def permission_rules(self, method: str, name: str) -> AdminAnswer:
        action = "RETRIEVE" if method == "GET" else "UPDATE"
        if not self._may(f"ACM:ROLE:{action}:PERMISSIONS:{name}"):
            return 403, messages.admin_forbidden(f"{action.lower()} the permissions of the "
                                                 f"role {name}")
        role = self.access.role(name)
        if role is None:
            return 404, messages.role_does_not_exist(name)
        if method == "PUT":
            try:
                sent = etree.fromstring(self._body())
            except etree.XMLSyntaxError as err:
                return 400, Message("Error", 400, f"The permission rules are no XML: {err}")
            rules: list[Rule] = []
            for elem in sent:
                permission = elem.get("permission")
                if elem.tag not in ("Grant", "Deny") or not permission:
                    continue
                priority = (elem.get("priority") or "false").lower() == "true"
                rules.append(Rule("Grant" if elem.tag == "Grant" else "Deny", permission,
                                  priority))
            role = dataclasses.replace(role, rules=tuple(dict.fromkeys(rules)))
            self.access.put_role(role)
        root = self._root()  # pylib reads the Grant/Deny children of the root
        for rule in role.rules:
            elem = etree.SubElement(root, rule.kind, permission=rule.permission)
            if rule.priority:
                elem.set("priority", "true")
        return 200, root
