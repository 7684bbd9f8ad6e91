"""Where the stand-in keeps its users, roles and entity ACLs in a ``--db`` SQLite file.

Tables of their own next to the entities' (:mod:`sss_emulator.backend.sqlite_file`), written
through on every change, so a restarted ``serve`` knows the users and permissions the
administration API made. The users file itself is never written.

No password is kept here: a password set through the API only as its salted scrypt hash
(:mod:`sss_emulator.passwords`), a password of the users file (or ``SSS_ADMIN_PASSWORD``) not at
all, since the users file says it again on every start. An older file that kept passwords as
given is rewritten with their hashes on open (with ``secure_delete``, so the old text does not
stay in free pages).
"""

from __future__ import annotations

import json
from pathlib import Path

from sss_emulator.backend.model import AclEntry, RoleRecord, UserRecord
from sss_emulator.backend.sqlite_file import connect_private
from sss_emulator.passwords import hash_password
from sss_emulator.shiro import Rule

__all__ = ["AccessFile"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS access_accounts(key TEXT PRIMARY KEY, doc TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS access_acls(id INTEGER PRIMARY KEY, doc TEXT NOT NULL);"
)


class AccessFile:
    """The access state's tables in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self._db = connect_private(path, timeout=30)
        self._db.execute("PRAGMA secure_delete = ON")
        self._db.executescript(_SCHEMA)

    def read(self) -> tuple[list[UserRecord], list[RoleRecord], dict[int, tuple[AclEntry, ...]]]:
        docs = dict(self._db.execute("SELECT key, doc FROM access_accounts"))
        users = [_user(u) for u in json.loads(docs.get("users", "[]"))]
        roles = [RoleRecord(r["name"], r["description"],
                            tuple(Rule(k, p, bool(prio)) for k, p, prio in r["rules"]))
                 for r in json.loads(docs.get("roles", "[]"))]
        acls = {
            int(entity_id): tuple(AclEntry(e[0], e[1], e[2], e[3], e[4], tuple(e[5]))
                                  for e in json.loads(doc))
            for entity_id, doc in self._db.execute("SELECT id, doc FROM access_acls")
        }
        return users, roles, acls

    def write_accounts(self, users: list[UserRecord], roles: list[RoleRecord]) -> None:
        users_doc = json.dumps([
            {"name": u.name, "realm": u.realm, "email": u.email, "roles": list(u.roles),
             "status": u.status, "password_hash": u.password_hash, "entity": u.entity}
            for u in users
        ])
        roles_doc = json.dumps([
            {"name": r.name, "description": r.description,
             "rules": [[x.kind, x.permission, x.priority] for x in r.rules]}
            for r in roles
        ])
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO access_accounts VALUES ('users', ?)",
                             (users_doc,))
            self._db.execute("INSERT OR REPLACE INTO access_accounts VALUES ('roles', ?)",
                             (roles_doc,))

    def write_acl(self, entity_id: int, acl: tuple[AclEntry, ...]) -> None:
        doc = json.dumps([[e.kind, e.priority, e.role, e.username, e.realm, list(e.permissions)]
                          for e in acl])
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO access_acls VALUES (?, ?)", (entity_id, doc))

    def delete_acl(self, entity_id: int) -> None:
        with self._db:
            self._db.execute("DELETE FROM access_acls WHERE id=?", (entity_id,))

    def close(self) -> None:
        self._db.close()


def _user(doc: dict[str, object]) -> UserRecord:
    """A saved user; a password an older version saved as given becomes its hash."""
    doc = dict(doc)
    plain = doc.pop("password", None)
    if isinstance(plain, str) and plain and not doc.get("password_hash"):
        doc["password_hash"] = hash_password(plain)
    return UserRecord(**{**doc, "roles": tuple(doc.get("roles") or ())})  # type: ignore[arg-type]
