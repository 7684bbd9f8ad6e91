"""Versions, users and ACLs (read side), driven through pylib and caosadvancedtools."""

from __future__ import annotations

import re
from pathlib import Path

import linkahead
import pytest
from backend_helpers import ADMIN_TOKEN, BackendRun, act_as, backend_authenticate
from caosadvancedtools.cache import IdentifiableCache
from linkahead.common import administration as admin
from linkahead.exceptions import (
    HTTPForbiddenError,
    HTTPResourceNotFoundError,
    TransactionError,
)
from lxml import etree

from sss_emulator.backend import (
    BackendServer,
    EntityStore,
    UserRecord,
    make_backend_app,
)
from sss_emulator.backend.model import Entity, ParentRef


def _manufacturer(name: str) -> linkahead.Record:
    return linkahead.Record(name=name).add_parent("Manufacturer")


class TestVersions:
    def test_insert_answers_with_a_head_version(self, backend_run: BackendRun) -> None:
        rec = _manufacturer("Gibson").insert()
        assert rec.version is not None
        assert re.fullmatch(r"[0-9a-f]{40}", rec.version.id)
        assert rec.version.is_head
        assert (rec.version.username, rec.version.realm) == ("alice", "PAM")
        again = linkahead.Record(id=rec.id).retrieve()
        assert again.version == rec.version  # same id and date: caosadvancedtools compares so

    def test_update_makes_a_new_version_and_keeps_the_old(self, backend_run: BackendRun) -> None:
        rec = _manufacturer("Gibson").add_property(name="country", value="USA").insert()
        first = rec.version.id
        rec.get_property("country").value = "Canada"
        rec.update()
        assert rec.version.id != first
        assert [p.id for p in rec.version.predecessors] == [first]
        old = linkahead.Container().retrieve(query=f"{rec.id}@{first}", sync=False)[0]
        assert old.get_property("country").value == "USA"
        assert not old.version.is_head
        assert [s.id for s in old.version.successors] == [rec.version.id]
        head = linkahead.Container().retrieve(query=f"{rec.id}@HEAD", sync=False)[0]
        assert head.get_property("country").value == "Canada"
        previous = linkahead.Container().retrieve(query=f"{rec.id}@HEAD~1", sync=False)[0]
        assert previous.version.id == first

    def test_an_update_that_changes_nothing_keeps_the_version(
        self, backend_run: BackendRun
    ) -> None:
        """Issue 21: every update made a new version, also one that changed nothing."""
        act_as(backend_run.url, ADMIN_TOKEN)  # the seeded data is the admin's
        revision = backend_run.store.revision
        seeded = linkahead.execute_query("FIND ENTITY")
        before = {e.id: e.version.id for e in seeded}
        seeded.update()  # every seeded entity sent back as retrieved: doubles, dates, lists…
        assert {e.id: e.version.id for e in seeded} == before
        again = linkahead.execute_query("FIND ENTITY")
        assert {e.id: e.version.id for e in again} == before
        assert all(e.version.is_head and not e.version.predecessors for e in again)
        assert backend_run.store.changes["updated"] == []
        assert backend_run.store.revision == revision
        # one changed entity of a container gets a new version, the others keep theirs
        strat = next(e for e in again if e.name == "Stratocaster")
        strat.get_property("price").value = 1300
        changed_ids = {strat.id}
        again.update()
        after = {e.id: e.version.id for e in linkahead.execute_query("FIND ENTITY")}
        assert {i for i in after if after[i] != before[i]} == changed_ids
        assert [c["id"] for c in backend_run.store.changes["updated"]] == [strat.id]
        # sending the same value in another spelling is no change either
        strat.get_property("price").value = "1.3e3"
        strat.update()
        assert strat.version.id == after[strat.id]

    def test_a_file_sent_back_unchanged_keeps_its_version(
        self, backend_run: BackendRun, tmp_path: Path
    ) -> None:
        local = tmp_path / "scan.txt"
        local.write_bytes(b"scan")
        stored = linkahead.File(name="scan", path="/data/scan.txt", file=str(local)).insert()
        first = stored.version.id
        again = linkahead.File(id=stored.id).retrieve()
        again.update()
        assert again.version.id == first
        again.description = "now described"
        again.update()
        assert again.version.id != first

    def test_complete_history_with_the_h_flag(self, backend_run: BackendRun) -> None:
        rec = _manufacturer("Gibson").insert()
        for text in ("one", "two"):
            rec.description = text
            rec.update()
        full = linkahead.Record(id=rec.id).retrieve(flags={"H": None})
        assert full.version.is_complete_history
        history = full.version.get_history()
        assert len(history) == 3 and history[-1].id == rec.version.id

    def test_unknown_version_does_not_exist(self, backend_run: BackendRun) -> None:
        rec = _manufacturer("Gibson").insert()
        with pytest.raises(TransactionError):
            linkahead.Container().retrieve(query=f"{rec.id}@{'0' * 40}")

    def test_identifiable_cache_of_caosadvancedtools(
        self, backend_run: BackendRun, tmp_path: Path
    ) -> None:
        cache = IdentifiableCache(db_file=str(tmp_path / "cache.db"), force_creation=True)
        recs = linkahead.Container().extend([_manufacturer("Gibson"), _manufacturer("Ibanez")])
        recs.insert()
        hashes = [IdentifiableCache.hash_entity(r) for r in recs]
        cache.insert_list(hashes, list(recs))  # raised "Entity has no version ID." before
        assert cache.validate_cache() == []
        recs[0].description = "changed"
        recs[0].update()
        assert cache.validate_cache() == [recs[0].id]

    def test_history_survives_a_sqlite_restart(self, tmp_path: Path) -> None:
        path = tmp_path / "store.sqlite"
        store = EntityStore(sqlite_path=path)
        store.insert([Entity(id=None, role="RecordType", name="Thing")])
        (rec,), _ok = store.insert(
            [Entity(id=None, role="Record", name="a", parents=[ParentRef(None, "Thing")])],
            author=("bob", "PAM"),
        )
        changed = rec.clone()
        changed.description = "new"
        store.update([changed], author=("carol", "PAM"))
        store.close()
        reopened = EntityStore(sqlite_path=path)
        versions = reopened.versions_of(rec.id)  # type: ignore[arg-type]
        assert [v.description for v in versions] == [None, "new"]
        assert [v.version.username for v in versions] == ["bob", "carol"]  # type: ignore[union-attr]
        reopened.close()


class TestUsers:
    @pytest.fixture
    def users_run(self, backend_store: EntityStore) -> object:
        users = [
            UserRecord("alice", "PAM", "alice@example.com", ("data-manager",)),
            UserRecord("bob", "PAM", "bob@example.com"),
        ]
        app = make_backend_app(backend_store, authenticate=backend_authenticate, users=users)
        with BackendServer(app) as srv:
            from backend_helpers import BACKEND_TOKEN

            linkahead.configure_connection(
                url=srv.url, auth_token=BACKEND_TOKEN, password_method="auth_token"
            )
            yield srv

    def test_the_caller_with_the_e_mail_of_the_users_file(self, users_run: object) -> None:
        # the way scripts find the caller's address to mail them
        body = admin._retrieve_user(realm="PAM", name="alice")
        user = etree.fromstring(body).find("User")
        assert user is not None
        assert (user.get("name"), user.get("realm"), user.get("email")) == (
            "alice", "PAM", "alice@example.com",
        )  # fmt: skip
        assert etree.fromstring(admin._retrieve_user(name="alice")).find("User") is not None
        assert admin._get_roles("alice") == {"data-manager"}

    def test_the_caller_without_users_file_has_no_email(self, backend_run: BackendRun) -> None:
        user = etree.fromstring(admin._retrieve_user(realm="PAM", name="alice")).find("User")
        assert user is not None and user.get("email") is None

    def test_other_users_need_administration(self, users_run: object) -> None:
        with pytest.raises(HTTPForbiddenError):
            admin._retrieve_user(realm="PAM", name="bob")

    def test_unknown_user(self, backend_run: BackendRun) -> None:
        with pytest.raises((HTTPResourceNotFoundError, HTTPForbiddenError)):
            admin._retrieve_user(realm="PAM", name="nobody")


class TestAcl:
    def test_retrieve_acl_names_the_inserting_user(self, backend_run: BackendRun) -> None:
        rec = _manufacturer("Gibson").insert()
        rec.retrieve_acl()
        assert rec.acl is not None
        assert "*" in rec.acl.get_permissions_for_user("alice", "PAM")
        plain = linkahead.Record(id=rec.id).retrieve()
        assert plain.acl is None  # only with the ACL flag, as on the server

    def test_unchanged_acl_goes_back_with_an_update(self, backend_run: BackendRun) -> None:
        rec = _manufacturer("Gibson").insert()
        rec.retrieve_acl()
        rec.description = "still mine"
        rec.update()
        assert linkahead.Record(id=rec.id).retrieve().description == "still mine"

    def test_global_acl(self, backend_run: BackendRun) -> None:
        from linkahead.common.models import ACL, get_known_permissions, sync_global_acl

        sync_global_acl()
        assert "RETRIEVE:ENTITY" in get_known_permissions()
        assert "*" in ACL.global_acl.get_permissions_for_role("?OWNER?")
