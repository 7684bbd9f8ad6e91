"""The server's permission model in the stand-in, driven through pylib as each caller it concerns:
the owner (alice), another user (bob, role ``guest``), the administrator and the anonymous user.

Each refusal is the server's: an entity error with code 403, which pylib raises as an
``AuthorizationError`` inside a ``TransactionError``; nothing of the request is stored.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import linkahead
import pytest
from backend_helpers import (
    ADMIN_TOKEN,
    BACKEND_TOKEN,
    BOB_TOKEN,
    BackendRun,
    act_as,
    backend_authenticate,
)
from linkahead.common import administration as admin
from linkahead.exceptions import AuthorizationError, TransactionError

from sss_emulator.backend import BackendServer, CallRecorder, EntityStore, make_backend_app


@pytest.fixture
def run(backend_store: EntityStore) -> Iterator[BackendRun]:
    """The seeded stand-in with anonymous access on; pylib starts as alice."""
    recorder = CallRecorder()
    app = make_backend_app(backend_store, authenticate=backend_authenticate, recorder=recorder,
                           anonymous=True)
    with BackendServer(app) as srv, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        act_as(srv.url, BACKEND_TOKEN)
        yield BackendRun(backend_store, recorder, srv.url)


def _refused(err: pytest.ExceptionInfo[TransactionError]) -> bool:
    return bool(err.value.has_error(AuthorizationError))


def _alices_record(run: BackendRun, name: str = "Gibson") -> linkahead.Record:
    act_as(run.url, BACKEND_TOKEN)
    rec = linkahead.Record(name=name).add_parent("Manufacturer").insert()
    return rec


class TestDefaults:
    def test_another_user_may_retrieve_but_not_update_or_delete(self, run: BackendRun) -> None:
        rec = _alices_record(run)
        act_as(run.url, BOB_TOKEN)
        mine = linkahead.Record(id=rec.id).retrieve()
        assert mine.name == "Gibson"
        mine.description = "bob was here"
        with pytest.raises(TransactionError) as err:
            mine.update()
        assert _refused(err)
        with pytest.raises(TransactionError) as err:
            linkahead.Record(id=rec.id).delete()
        assert _refused(err)
        act_as(run.url, BACKEND_TOKEN)
        assert linkahead.Record(id=rec.id).retrieve().description is None
        assert run.store.changes["updated"] == [] and run.store.changes["deleted"] == []

    def test_the_owner_may_update_and_delete(self, run: BackendRun) -> None:
        act_as(run.url, BOB_TOKEN)
        rec = linkahead.Record(name="Ibanez").add_parent("Manufacturer").insert()
        rec.description = "mine"
        rec.update()
        rec.delete()
        assert linkahead.execute_query("COUNT Manufacturer WITH name=Ibanez") == 0

    def test_administration_may_do_everything(self, run: BackendRun) -> None:
        rec = _alices_record(run)
        act_as(run.url, ADMIN_TOKEN)
        theirs = linkahead.Record(id=rec.id).retrieve()
        theirs.description = "moderated"
        theirs.update()
        theirs.retrieve_acl()
        theirs.acl.deny(role="?OTHER?", permission="RETRIEVE:*", priority=True)
        theirs.update_acl()
        theirs.delete()

    def test_anonymous_may_retrieve_but_not_write(self, run: BackendRun) -> None:
        act_as(run.url, None)
        assert linkahead.execute_query("COUNT Guitar") > 0
        with pytest.raises(TransactionError) as err:
            linkahead.Record(name="Anon").add_parent("Manufacturer").insert()
        assert _refused(err)
        guitar = linkahead.execute_query("FIND Guitar", unique=False)[0]
        guitar.description = "anonymous edit"
        with pytest.raises(TransactionError) as err:
            guitar.update()
        assert _refused(err)


class TestEntityAcls:
    def test_a_grant_to_a_user_lets_them_update_but_not_delete(self, run: BackendRun) -> None:
        rec = _alices_record(run)
        rec.retrieve_acl()
        # with priority: the global rules deny UPDATE:* to ?OTHER? without priority, and a
        # deny wins over a grant of the same priority
        rec.acl.grant(username="bob", realm="PAM", permission="UPDATE:*", priority=True)
        rec.update_acl()
        act_as(run.url, BOB_TOKEN)
        theirs = linkahead.Record(id=rec.id).retrieve()
        theirs.description = "granted"
        theirs.update()
        with pytest.raises(TransactionError) as err:
            theirs.delete()
        assert _refused(err)

    def test_a_grant_without_priority_loses_to_the_global_deny(self, run: BackendRun) -> None:
        rec = _alices_record(run)
        rec.retrieve_acl()
        rec.acl.grant(username="bob", realm="PAM", permission="UPDATE:*")
        rec.update_acl()
        act_as(run.url, BOB_TOKEN)
        theirs = linkahead.Record(id=rec.id).retrieve()
        theirs.description = "not granted enough"
        with pytest.raises(TransactionError) as err:
            theirs.update()
        assert _refused(err)

    def test_a_priority_deny_hides_an_entity_from_a_role(self, run: BackendRun) -> None:
        rec = _alices_record(run)
        rec.retrieve_acl()
        rec.acl.deny(role="guest", permission="RETRIEVE:ENTITY", priority=True)
        rec.update_acl()
        act_as(run.url, BOB_TOKEN)
        assert linkahead.execute_query("COUNT Manufacturer WITH name=Gibson") == 0
        with pytest.raises(TransactionError) as err:
            linkahead.Record(id=rec.id).retrieve()
        assert _refused(err)
        act_as(run.url, BACKEND_TOKEN)  # the owner still sees it
        assert linkahead.execute_query("COUNT Manufacturer WITH name=Gibson") == 1

    def test_an_insert_that_carries_an_acl_sets_it(self, run: BackendRun) -> None:
        act_as(run.url, BACKEND_TOKEN)
        rec = linkahead.Record(name="Martin").add_parent("Manufacturer")
        rec.acl = linkahead.ACL()
        rec.grant(username="alice", realm="PAM", permission="*")
        rec.grant(role="guest", permission="UPDATE:DESCRIPTION", priority=True)
        rec.insert()
        act_as(run.url, BOB_TOKEN)
        theirs = linkahead.Record(id=rec.id).retrieve()
        theirs.description = "may change this"
        theirs.update()
        theirs.name = "not this"
        with pytest.raises(TransactionError) as err:
            theirs.update()
        assert _refused(err)

    def test_only_owners_change_an_acl(self, run: BackendRun) -> None:
        rec = _alices_record(run)
        act_as(run.url, BOB_TOKEN)
        theirs = linkahead.Record(id=rec.id)
        theirs.retrieve_acl()
        theirs.acl.grant(username="bob", realm="PAM", permission="*")
        with pytest.raises(TransactionError) as err:
            theirs.update_acl()
        assert _refused(err)

    def test_use_as_parent_can_be_denied(self, run: BackendRun) -> None:
        act_as(run.url, ADMIN_TOKEN)
        kind = linkahead.RecordType(name="Secret").insert()
        kind.retrieve_acl()
        kind.acl.deny(role="guest", permission="USE:AS_PARENT")
        kind.update_acl()
        act_as(run.url, BOB_TOKEN)
        with pytest.raises(TransactionError) as err:
            linkahead.Record(name="x").add_parent("Secret").insert()
        assert _refused(err)
        act_as(run.url, BACKEND_TOKEN)
        linkahead.Record(name="x").add_parent("Secret").insert()


    def test_use_as_reference_can_be_denied(self, run: BackendRun) -> None:
        act_as(run.url, ADMIN_TOKEN)
        fender = linkahead.execute_query("FIND Manufacturer WITH name=Fender", unique=True)
        fender.retrieve_acl()
        fender.acl.deny(role="guest", permission="USE:AS_REFERENCE", priority=True)
        fender.update_acl()
        act_as(run.url, BOB_TOKEN)
        guitar = linkahead.Record(name="Copy").add_parent("Manufacturer")
        guitar.add_property("country", "DE").add_property("Manufacturer", value=fender.id)
        with pytest.raises(TransactionError) as err:
            guitar.insert()
        assert _refused(err)
        act_as(run.url, BACKEND_TOKEN)
        guitar.insert()


class TestRolePermissions:
    def test_a_role_denied_transactions_may_not_write(self, run: BackendRun) -> None:
        act_as(run.url, ADMIN_TOKEN)
        admin._insert_role("guest", "visitors")
        admin._set_permissions("guest", [admin.PermissionRule("Deny", "TRANSACTION:INSERT")])
        act_as(run.url, BOB_TOKEN)
        with pytest.raises(TransactionError) as err:
            linkahead.Record(name="Ibanez").add_parent("Manufacturer").insert()
        assert _refused(err)
        act_as(run.url, BACKEND_TOKEN)  # another role is not affected
        linkahead.Record(name="Ibanez").add_parent("Manufacturer").insert()

    def test_anonymous_may_write_when_its_role_is_granted(self, run: BackendRun) -> None:
        act_as(run.url, ADMIN_TOKEN)
        admin._set_permissions("anonymous", [admin.PermissionRule("Grant", "TRANSACTION:*")])
        act_as(run.url, None)
        rec = linkahead.Record(name="Anon").add_parent("Manufacturer").insert()
        assert rec.id is not None
