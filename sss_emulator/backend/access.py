"""The server's access control in the stand-in: users, roles, role permissions, entity ACLs.

One object holds the state the real server keeps in its user sources and ACL tables, and answers
every permission question the stand-in asks:

- **role permissions** (``TRANSACTION:INSERT``, ``ACM:USER:INSERT:CaosDB``,
  ``SCRIPTING:EXECUTE:a.py``): the caller's roles' rules, read with Shiro matching and the
  server's priority order (:mod:`sss_emulator.shiro`); ``administration`` may do everything;
- **entity permissions** (``UPDATE:NAME``, ``DELETE``, ``USE:AS_PARENT``): the global entity
  permissions (``global_entity_permissions.xml``, :data:`decisions.GLOBAL_ENTITY_ACL`) plus the
  entity's own ACL, with the special roles ``?OWNER?`` and ``?OTHER?``.

The state starts from the users file (the same one ``serve`` logs people in with and the
scripting check reads) and changes through the administration API; with a SQLite file it is kept
there (:mod:`sss_emulator.backend.access_file`). Everything is read under :attr:`lock`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sss_emulator import decisions
from sss_emulator.backend.acl import entity_acl, global_acl
from sss_emulator.backend.model import AclEntry, Principal, RoleRecord, UserRecord
from sss_emulator.passwords import hash_password
from sss_emulator.shiro import Rule, decide, implies

__all__ = ["AccessControl"]

_OWNER, _OTHER = "?OWNER?", "?OTHER?"


def _as_rule(value: str | Rule) -> Rule:
    return value if isinstance(value, Rule) else Rule.grant(value)


@dataclass
class _Caller:
    """Who asks, with the roles the state gives them (a user the state knows has its roles;
    anyone else the roles of their token)."""

    name: str
    realm: str
    roles: tuple[str, ...]
    admin: bool = field(init=False)

    def __post_init__(self) -> None:
        self.admin = decisions.DEFAULT_ADMIN_ROLE in self.roles


class AccessControl:
    """Users, roles, role permission rules and entity ACLs, and the checks that read them.

    Example::

        access = AccessControl([UserRecord("bob", roles=("team",))],
                               {"team": ["SCRIPTING:EXECUTE:a.py"]})
        access.role_permitted(principal, "TRANSACTION:INSERT")
    """

    def __init__(
        self,
        users: Iterable[UserRecord] = (),
        roles: Mapping[str, Iterable[str | Rule]] | None = None,
        *,
        sqlite_path: str | Path | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self._users: dict[tuple[str, str], UserRecord] = {}
        self._roles: dict[str, RoleRecord] = {}
        self._acls: dict[int, tuple[AclEntry, ...]] = {}
        self._retrieves_all: dict[tuple[str, str, tuple[str, ...]], bool] = {}
        self._file = None
        if sqlite_path is not None:
            from sss_emulator.backend.access_file import AccessFile

            self._file = AccessFile(Path(sqlite_path))
            saved_users, saved_roles, self._acls = self._file.read()
            self._users = {(u.realm, u.name): u for u in saved_users}
            self._roles = {r.name: r for r in saved_roles}
        # What the users file names wins on start (decisions.USERS_FILE_WINS_ON_START); the
        # rest of a saved state (users and roles made through the API) is kept.
        for user in users:
            if decisions.USERS_FILE_WINS_ON_START or (user.realm, user.name) not in self._users:
                self._users[(user.realm, user.name)] = user
        for name in decisions.BUILT_IN_ROLES:
            self._roles.setdefault(name, RoleRecord(name))
        for name, rules in (roles or {}).items():
            old = self._roles.get(name)
            if old is not None and not decisions.USERS_FILE_WINS_ON_START:
                continue
            self._roles[name] = RoleRecord(name, old.description if old else "",
                                           tuple(_as_rule(r) for r in rules))
        for user in self._users.values():
            for role in user.roles:
                self._roles.setdefault(role, RoleRecord(role))
        self._save_accounts()

    # ----------------------------------------------------------------- persistence
    @contextlib.contextmanager
    def _all_or_nothing(self, *, acls: bool = False) -> Iterator[None]:
        """A change that cannot be written (the ``--db`` file gone, a full disk) changes
        nothing in memory either: the caller got an error, so no one may see the change.
        Users and roles (and, for an ACL change, the ACLs) are put back as they were; their
        values are immutable, so a shallow copy is enough."""
        with self.lock:
            users, roles = dict(self._users), dict(self._roles)
            saved_acls = dict(self._acls) if acls else None
            try:
                yield
            except BaseException:
                self._users, self._roles = users, roles
                if saved_acls is not None:
                    self._acls = saved_acls
                raise

    def _save_accounts(self) -> None:
        if self._file is not None:
            self._file.write_accounts(list(self._users.values()), list(self._roles.values()))

    def close(self) -> None:
        """Close the SQLite file, if any."""
        if self._file is not None:
            self._file.close()
            self._file = None

    # ----------------------------------------------------------------- users
    def user(self, name: str, realm: str | None = None) -> UserRecord | None:
        """The user of this name (in ``realm``, or in any realm when None)."""
        with self.lock:
            if realm is not None:
                return self._users.get((realm, name))
            return next((u for (_r, n), u in sorted(self._users.items()) if n == name), None)

    def users(self) -> list[UserRecord]:
        with self.lock:
            return list(self._users.values())

    def put_user(self, user: UserRecord) -> None:
        """Add or change a user; a password given as such is kept only as its hash from now
        on (so no write of the state can carry it, :mod:`sss_emulator.passwords`)."""
        if user.password is not None:
            user = dataclasses.replace(user, password=None,
                                       password_hash=hash_password(user.password))
        with self._all_or_nothing():
            self._users[(user.realm, user.name)] = user
            self._save_accounts()

    def delete_user(self, user: UserRecord) -> None:
        with self._all_or_nothing():
            self._users.pop((user.realm, user.name), None)
            self._save_accounts()

    # ----------------------------------------------------------------- roles
    def role(self, name: str) -> RoleRecord | None:
        with self.lock:
            return self._roles.get(name)

    def put_role(self, role: RoleRecord) -> None:
        with self._all_or_nothing():
            self._roles[role.name] = role
            self._save_accounts()

    def delete_role(self, name: str) -> None:
        with self._all_or_nothing():
            self._roles.pop(name, None)
            for key, user in list(self._users.items()):
                if name in user.roles:
                    self._users[key] = dataclasses.replace(
                        user, roles=tuple(r for r in user.roles if r != name))
            self._save_accounts()

    def role_permissions(self) -> Mapping[str, tuple[Rule, ...]]:
        """A live view ``role → rules``, for the scripting permission check."""
        return _LiveRules(self)

    def caller(self, principal: Principal) -> _Caller:
        """``principal`` with the roles the state gives it now."""
        with self.lock:
            known = self._users.get((principal.realm, principal.name))
        roles = known.roles if known is not None else tuple(principal.roles)
        return _Caller(principal.name, principal.realm, tuple(roles))

    def role_permitted(self, principal: Principal | _Caller, permission: str) -> bool:
        """A role permission: the caller's roles' rules (plus the implied grant every
        authenticated user has, :data:`decisions.AUTHENTICATED_ROLE_GRANTS`)."""
        caller = principal if isinstance(principal, _Caller) else self.caller(principal)
        if caller.admin:
            return True
        with self.lock:
            rules = [r for role in caller.roles if (rec := self._roles.get(role))
                     for r in rec.rules]
        if (caller.name, caller.realm) != (decisions.ANONYMOUS_USER, decisions.ANONYMOUS_REALM):
            rules[:0] = [Rule.grant(p) for p in decisions.AUTHENTICATED_ROLE_GRANTS]
        return decide(rules, permission)

    # ----------------------------------------------------------------- entity ACLs
    def acl_of(self, entity_id: int | None, owner: tuple[str, str] | None) -> tuple[AclEntry, ...]:
        """The entity's ACL: the one set for it, else the owner ACL of whoever inserted it."""
        with self.lock:
            explicit = self._acls.get(entity_id) if entity_id is not None else None
        return explicit if explicit is not None else entity_acl(owner)

    def set_acl(self, entity_id: int, acl: Sequence[AclEntry]) -> None:
        with self._all_or_nothing(acls=True):
            self._acls[entity_id] = tuple(acl)
            if self._file is not None:
                self._file.write_acl(entity_id, self._acls[entity_id])

    def extend_acl(self, entity_id: int, owner: tuple[str, str] | None,
                   entries: Sequence[AclEntry]) -> None:
        """Add rules to an entity's ACL (what ``update_acl()`` after ``acl.grant()`` does)."""
        with self.lock:
            self.set_acl(entity_id, (*self.acl_of(entity_id, owner), *entries))

    def forget_acls(self, entity_ids: Iterable[int]) -> None:
        """Drop the ACLs of deleted entities."""
        with self._all_or_nothing(acls=True):
            for entity_id in entity_ids:
                if self._acls.pop(entity_id, None) is not None and self._file is not None:
                    self._file.delete_acl(entity_id)

    def explicit_acl_ids(self) -> set[int]:
        with self.lock:
            return set(self._acls)

    def entity_permitted(
        self, caller: _Caller, acl: Sequence[AclEntry], permission: str
    ) -> bool:
        """Whether ``caller`` has ``permission`` on an entity with this ACL."""
        if caller.admin and decisions.ADMIN_HAS_ALL_ENTITY_PERMISSIONS:
            return True
        owner = _is_owner(caller, acl)
        rules = [
            Rule(e.kind, p, e.priority)
            for e in (*global_acl(), *acl) if _applies(e, caller, owner)
            for p in e.permissions
        ]
        return decide(rules, permission)

    def retrieves_all_by_default(self, caller: _Caller) -> bool:
        """True when the caller may retrieve every entity that has no ACL of its own (then a
        query needs to check only those that have one: the fast path of queries)."""
        if caller.admin:
            return True
        key = (caller.name, caller.realm, caller.roles)
        known = self._retrieves_all.get(key)
        if known is None:  # the global rules never change: one answer per caller
            known = self._retrieves_all[key] = all(
                self.entity_permitted(caller, acl, "RETRIEVE:ENTITY")
                for acl in ((), entity_acl((caller.name, caller.realm))))
        return known


def _applies(entry: AclEntry, caller: _Caller, owner: bool) -> bool:
    if entry.username is not None:
        return entry.username == caller.name and entry.realm in (None, caller.realm)
    if entry.role == _OWNER:
        return owner
    if entry.role == _OTHER:
        return not owner
    return entry.role in caller.roles


def _is_owner(caller: _Caller, acl: Sequence[AclEntry]) -> bool:
    """Owners are those the entity's own ACL grants ``EDIT:ACL`` (the server's definition,
    :data:`decisions.OWNER_PERMISSION`)."""
    return any(
        entry.kind == "Grant" and entry.role not in (_OWNER, _OTHER)
        and _applies(entry, caller, False)
        and any(implies(p, decisions.OWNER_PERMISSION) for p in entry.permissions)
        for entry in acl
    )


class _LiveRules(Mapping[str, tuple[Rule, ...]]):
    """``role → rules`` read from the state at each lookup (so a rule set through the API
    counts at once for the scripting check)."""

    def __init__(self, access: AccessControl) -> None:
        self._access = access

    def __getitem__(self, role: str) -> tuple[Rule, ...]:
        found = self._access.role(role)
        if found is None:
            raise KeyError(role)
        return found.rules

    def __iter__(self) -> Iterator[str]:
        with self._access.lock:
            return iter(list(self._access._roles))

    def __len__(self) -> int:
        with self._access.lock:
            return len(self._access._roles)
