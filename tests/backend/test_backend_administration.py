"""User, role and permission administration through pylib's ``linkahead.common.administration``,
as the administrator and, refused with the server's ``HTTPForbiddenError``, as a normal user."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import linkahead
import pytest
from backend_helpers import ADMIN_TOKEN, BOB_TOKEN, act_as, backend_authenticate
from linkahead.common import administration as admin
from linkahead.exceptions import (
    HTTPClientError,
    HTTPForbiddenError,
    HTTPResourceNotFoundError,
)
from lxml import etree

from sss_emulator.backend import BackendServer, EntityStore, UserRecord, make_backend_app
from sss_emulator.backend.access import AccessControl
from sss_emulator.passwords import check_password

PASSWORD = "Secret-1234"


@pytest.fixture
def access(backend_store: EntityStore) -> Iterator[AccessControl]:
    """A stand-in whose state knows admin and bob; pylib starts as admin."""
    state = AccessControl([UserRecord("admin", "PAM", roles=("administration",)),
                           UserRecord("bob", "PAM", "bob@example.com", ("guest",))])
    app = make_backend_app(backend_store, authenticate=backend_authenticate, access=state)
    with BackendServer(app) as srv:
        act_as(srv.url, ADMIN_TOKEN)
        state.url = srv.url  # type: ignore[attr-defined]
        yield state


def _user(name: str) -> etree._Element:
    found = etree.fromstring(admin._retrieve_user(name=name)).find("User")
    assert found is not None
    return found


class TestUsers:
    def test_create_retrieve_update_activate_delete(self, access: AccessControl) -> None:
        admin._insert_user(name="carol", password=PASSWORD, email="carol@example.com")
        carol = _user("carol")
        assert (carol.get("realm"), carol.get("email"), carol.get("status")) == (
            "CaosDB", "carol@example.com", "INACTIVE")
        admin._update_user(name="carol", status="ACTIVE")
        admin._update_user(name="carol", email="c@example.org")
        admin._update_user(name="carol", password="Other-5678", realm="CaosDB")
        carol = _user("carol")
        assert (carol.get("status"), carol.get("email")) == ("ACTIVE", "c@example.org")
        record = access.user("carol")
        assert record is not None and check_password("Other-5678", record.password_hash)
        admin._delete_user(name="carol")
        with pytest.raises(HTTPResourceNotFoundError):
            admin._retrieve_user(name="carol")

    def test_a_weak_password_is_refused(self, access: AccessControl) -> None:
        with pytest.raises(HTTPClientError) as err:
            admin._insert_user(name="dave", password="short")
        assert "policies for passwords" in err.value.msg  # pylib takes the server's text
        assert access.user("dave") is None

    def test_a_name_in_use_is_refused(self, access: AccessControl) -> None:
        with pytest.raises(HTTPClientError) as err:
            admin._insert_user(name="bob", password=PASSWORD)
        assert "already in use" in err.value.msg

    def test_roles_are_assigned_and_read(self, access: AccessControl) -> None:
        admin._insert_role("curator", "keeps the data")
        assert admin._set_roles("bob", ["guest", "curator"]) == {"guest", "curator"}
        assert admin._get_roles("bob") == {"guest", "curator"}
        act_as(access.url, BOB_TOKEN)  # type: ignore[attr-defined]
        assert sorted(linkahead.Info().user_info.roles) == ["curator", "guest"]
        act_as(access.url, ADMIN_TOKEN)  # type: ignore[attr-defined]
        with pytest.raises(HTTPClientError) as err:
            admin._set_roles("bob", ["nonesuch"])
        assert err.value.status == 409

    def test_a_normal_user_is_refused(self, access: AccessControl) -> None:
        act_as(access.url, BOB_TOKEN)  # type: ignore[attr-defined]
        with pytest.raises(HTTPForbiddenError):
            admin._insert_user(name="eve", password=PASSWORD)
        with pytest.raises(HTTPForbiddenError):
            admin._retrieve_user(name="admin")
        with pytest.raises(HTTPForbiddenError):
            admin._update_user(name="bob", email="bob@evil.example")
        with pytest.raises(HTTPForbiddenError):
            admin._set_roles("bob", ["administration"])
        with pytest.raises(HTTPForbiddenError):
            admin._delete_user(name="admin")
        assert _user("bob").get("email") == "bob@example.com"  # themselves: allowed
        admin._update_user(name="bob", password="Bobs-new-1")  # their own password
        assert check_password("Bobs-new-1", access.user("bob").password_hash)  # type: ignore[union-attr]


class TestRoles:
    def test_create_retrieve_update_delete(self, access: AccessControl) -> None:
        admin._insert_role("curator", "keeps the data")
        with pytest.raises(HTTPClientError) as err:
            admin._insert_role("curator", "again")
        assert err.value.status == 409 and "already in use" in err.value.msg
        role = etree.fromstring(admin._retrieve_role("curator")).find("Role")
        assert role is not None and role.get("description") == "keeps the data"
        admin._update_role("curator", "keeps all data")
        assert access.role("curator").description == "keeps all data"  # type: ignore[union-attr]
        admin._delete_role("curator")
        with pytest.raises(HTTPResourceNotFoundError):
            admin._retrieve_role("curator")

    def test_permission_rules_round_trip(self, access: AccessControl) -> None:
        rules = {admin.PermissionRule("Grant", "SCRIPTING:EXECUTE:*"),
                 admin.PermissionRule("Deny", "TRANSACTION:DELETE", priority=True)}
        admin._set_permissions("guest", rules)
        assert admin._get_permissions("guest") == rules

    def test_a_normal_user_is_refused(self, access: AccessControl) -> None:
        act_as(access.url, BOB_TOKEN)  # type: ignore[attr-defined]
        with pytest.raises(HTTPForbiddenError):
            admin._insert_role("mine", "")
        with pytest.raises(HTTPForbiddenError):
            admin._set_permissions("guest", [admin.PermissionRule("Grant", "*")])
        with pytest.raises(HTTPForbiddenError):
            admin._get_permissions("guest")
        with pytest.raises(HTTPForbiddenError):
            admin._delete_role("guest")
        assert access.role("guest").rules == ()  # type: ignore[union-attr]


def test_a_saved_state_keeps_what_the_api_made_and_the_users_file_wins(tmp_path: Path) -> None:
    """With a SQLite file: users, roles and ACLs the API made are there after a restart; what
    the users file says about its own users replaces what was saved (its passwords work)."""
    from sss_emulator.backend.model import AclEntry, RoleRecord
    from sss_emulator.shiro import Rule

    path = tmp_path / "state.sqlite"
    file_users = [UserRecord("admin", "PAM", roles=("administration",), password="from-file")]
    first = AccessControl(file_users, sqlite_path=path)
    first.put_user(UserRecord("carol", "CaosDB", password=PASSWORD))
    first.put_user(UserRecord("admin", "PAM", roles=("administration",), password="api-set"))
    first.put_role(RoleRecord("curator", "keeps", (Rule("Deny", "TRANSACTION:DELETE"),)))
    first.set_acl(123, (AclEntry("Grant", True, "curator", None, None, ("UPDATE:*",)),))
    first.close()
    again = AccessControl(file_users, sqlite_path=path)
    assert check_password(PASSWORD, again.user("carol").password_hash)  # type: ignore[union-attr]
    assert PASSWORD.encode() not in path.read_bytes()  # kept as a salted hash only
    assert again.user("admin").password == "from-file"  # type: ignore[union-attr]
    assert again.role("curator").rules == (Rule("Deny", "TRANSACTION:DELETE"),)  # type: ignore[union-attr]
    assert again.acl_of(123, None)[0].role == "curator"
    again.close()


def test_a_file_that_kept_passwords_as_given_is_rewritten_with_hashes(tmp_path: Path) -> None:
    """A ``--db`` file an older version wrote (passwords as given) holds only their hashes
    once the state is opened, and the password still logs in."""
    import json
    import sqlite3

    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript("CREATE TABLE access_accounts(key TEXT PRIMARY KEY, doc TEXT NOT NULL);")
    old.execute("INSERT INTO access_accounts VALUES ('users', ?)", (json.dumps([
        {"name": "carol", "realm": "CaosDB", "email": None, "roles": [], "status": "ACTIVE",
         "password": "Old-Plain-pw-1", "entity": None}]),))
    old.commit()
    old.close()
    state = AccessControl([], sqlite_path=path)
    state.close()
    assert b"Old-Plain-pw-1" not in path.read_bytes()
    again = AccessControl([], sqlite_path=path)
    assert check_password("Old-Plain-pw-1", again.user("carol").password_hash)  # type: ignore[union-attr]
    again.close()
