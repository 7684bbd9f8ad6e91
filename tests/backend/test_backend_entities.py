"""Entity round trips through the real pylib, and the server's answers to bad requests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import linkahead
import pytest
from backend_helpers import ADMIN_TOKEN, BACKEND_TOKEN, BackendRun, act_as, backend_authenticate
from linkahead.exceptions import (
    EntityDoesNotExistError,
    HTTPResourceNotFoundError,
    LoginFailedError,
    TransactionError,
    UniqueNamesError,
)
from lxml import etree
from werkzeug.test import Client

from sss_emulator.backend import CallRecorder, EntityStore, make_backend_app
from sss_emulator.backend.model import Entity

_COOKIE = {"SessionToken": BACKEND_TOKEN}


def _client(store: EntityStore, **kwargs: object) -> Client:
    app = make_backend_app(store, authenticate=backend_authenticate, **kwargs)  # type: ignore[arg-type]
    client = Client(app)
    return client


class TestRoundTrips:
    """What a script inserts, updates and deletes comes back as a server would send it."""

    def test_insert_record_by_names_only(self, backend_run: BackendRun) -> None:
        rec = (
            linkahead.Record(name="Telecaster")
            .add_parent("Guitar")
            .add_property(name="price", value=899)
            .add_property(name="electric", value=True)
            .add_property(name="Manufacturer", value="Fender")
        )
        rec.insert()
        assert rec.id is not None and rec.id > 0
        again = linkahead.Record(id=rec.id).retrieve()
        assert again.get_property("price").value == 899.0
        assert again.get_property("electric").value is True
        fender = linkahead.execute_query("FIND Manufacturer WITH name=Fender", unique=True)
        assert again.get_property("Manufacturer").value == fender.id
        assert again.get_parents()[0].name == "Guitar"
        assert backend_run.store.changes["inserted"] == [
            {"id": rec.id, "role": "Record", "name": "Telecaster", "parents": ["Guitar"]}
        ]

    def test_container_insert_echoes_cuids_and_resolves_temporary_ids(
        self, backend_run: BackendRun
    ) -> None:
        maker = linkahead.Record(name="Gibson").add_parent("Manufacturer")
        guitar = (
            linkahead.Record(name="Les Paul")
            .add_parent("Guitar")
            .add_property(name="price", value=2500)
        )
        guitar.add_property(name="Manufacturer", value=maker)
        container = linkahead.Container().extend([maker, guitar])
        container.insert()
        assert maker.id > 0 and guitar.id > maker.id
        assert (
            linkahead.Record(id=guitar.id).retrieve().get_property("Manufacturer").value == maker.id
        )

    def test_insert_property_and_recordtype(self, backend_run: BackendRun) -> None:
        prop = linkahead.Property(name="frets", datatype=linkahead.INTEGER).insert()
        rt = linkahead.RecordType(name="Ukulele").add_parent("MusicalInstrument").add_property(prop)
        rt.insert()
        uke = linkahead.Record().add_parent("Ukulele").add_property(name="frets", value=12)
        uke.add_property(name="price", value=60)
        uke.insert()
        assert (
            linkahead.execute_query("FIND MusicalInstrument WITH frets=12", unique=True).id
            == uke.id
        )
        assert linkahead.execute_query("FIND PROPERTY frets", unique=True).datatype == "INTEGER"

    def test_update_and_delete(self, backend_run: BackendRun) -> None:
        act_as(backend_run.url, ADMIN_TOKEN)  # the seeded data is the admin's
        classic = linkahead.execute_query("FIND Guitar WITH name=Classic", unique=True)
        classic.get_property("price").value = 350
        classic.description = "nylon strings"
        classic.update()
        fresh = linkahead.Record(id=classic.id).retrieve()
        assert (fresh.get_property("price").value, fresh.description) == (350.0, "nylon strings")
        classic.delete()
        assert linkahead.execute_query("COUNT Guitar WITH name=Classic") == 0
        changes = backend_run.store.changes
        assert [c["name"] for c in changes["updated"]] == ["Classic"]
        assert [c["name"] for c in changes["deleted"]] == ["Classic"]

    def test_retrieve_several_ids_and_by_name(self, backend_run: BackendRun) -> None:
        grand = linkahead.execute_query("FIND Piano", unique=True)
        fender = linkahead.execute_query("FIND Manufacturer WITH name=Fender", unique=True)
        both = linkahead.Container().extend(
            [linkahead.Record(id=grand.id), linkahead.Record(id=fender.id)]
        )
        both.retrieve()
        assert sorted(e.name for e in both) == ["Fender", "Grand"]
        assert any("&" in c["path"] for c in backend_run.recorder.calls)
        assert linkahead.RecordType(name="Guitar").retrieve().id is not None

    def test_file_insert_download_and_checksum(
        self, backend_run: BackendRun, tmp_path: Path
    ) -> None:
        local = tmp_path / "score.txt"
        local.write_bytes(b"do re mi\n" * 100)
        f = linkahead.File(path="/scores/score.txt", file=str(local)).add_parent("Concert")
        f.insert()
        assert f.checksum == hashlib.sha512(local.read_bytes()).hexdigest()
        again = linkahead.File(id=f.id).retrieve()
        target = again.download(str(tmp_path / "copy.txt"))
        assert Path(target).read_bytes() == local.read_bytes()
        found = linkahead.execute_query("FIND FILE WHICH IS STORED AT /scores/*", unique=True)
        assert found.id == f.id
        assert linkahead.Info()._stats.files == 1

    def test_a_deleted_files_path_is_404(self, backend_run: BackendRun, tmp_path: Path) -> None:
        """Issue 21: the deleted File's bytes were still served at its path."""
        local = tmp_path / "score.txt"
        local.write_bytes(b"secret score")
        f = linkahead.File(path="/scores/gone.txt", file=str(local)).add_parent("Concert")
        f.insert()
        kept = linkahead.File(id=f.id).retrieve()
        f.delete()
        with pytest.raises(HTTPResourceNotFoundError):
            kept.download(str(tmp_path / "copy.txt"))
        with pytest.raises(HTTPResourceNotFoundError):
            linkahead.get_connection().download_file("/scores/gone.txt")
        assert backend_run.store.read_blob("/scores/gone.txt") is None
        # the path is free again, and a new File there serves its own contents
        local.write_bytes(b"new score")
        again = linkahead.File(path="/scores/gone.txt", file=str(local)).insert()
        assert Path(again.download(str(tmp_path / "n.txt"))).read_bytes() == b"new score"

    def test_a_deleted_files_contents_leave_the_db_and_the_file_store(
        self, tmp_path: Path
    ) -> None:
        """What the stand-in wrote for a File (its ``--db`` row, its copy in the scripts'
        caosroot) goes with it; a file it did not write stays."""
        store = EntityStore(sqlite_path=tmp_path / "store.sqlite")
        caosroot = tmp_path / "caosroot"
        store.keep_files_in(caosroot)
        (caosroot / "mine.txt").write_bytes(b"the user's")
        (up,), _ = store.insert([Entity(id=None, role="File", path="/up.txt", upload=b"x")])
        (mine,), _ = store.insert([Entity(id=None, role="File", path="/mine.txt")])
        assert (caosroot / "up.txt").read_bytes() == b"x"
        store.delete([str(up.id), str(mine.id)])
        assert not (caosroot / "up.txt").exists()
        assert (caosroot / "mine.txt").read_bytes() == b"the user's"
        store.close()
        reopened = EntityStore(sqlite_path=tmp_path / "store.sqlite")
        assert reopened.read_blob("/up.txt") is None and len(reopened) == 0
        reopened.close()

    def test_file_update_moves_and_replaces_contents(
        self, backend_run: BackendRun, tmp_path: Path
    ) -> None:
        local = tmp_path / "v1.txt"
        local.write_bytes(b"first")
        f = linkahead.File(path="/a/v.txt", file=str(local)).add_parent("Concert").insert()
        f.path = "/b/v.txt"
        f.update()
        moved = linkahead.File(id=f.id).retrieve()
        assert moved.path == "/b/v.txt"
        assert Path(moved.download(str(tmp_path / "m.txt"))).read_bytes() == b"first"
        local.write_bytes(b"second version")
        moved.file = str(local)
        moved.update()
        fresh = linkahead.File(id=f.id).retrieve()
        assert fresh.size == 14
        assert Path(fresh.download(str(tmp_path / "n.txt"))).read_bytes() == b"second version"

    def test_info(self, backend_run: BackendRun) -> None:
        info = linkahead.Info()
        assert (info.user_info.name, info.user_info.realm) == ("alice", "PAM")
        assert info.user_info.roles == ["data-manager"]
        assert info._stats.records == 7
        assert info.time_zone is not None


class TestRefusals:
    """Bad requests get the server's error elements, so pylib raises the usual exceptions."""

    def test_missing_id(self, backend_run: BackendRun) -> None:
        with pytest.raises(TransactionError) as info:
            linkahead.Record(id=99999).retrieve()
        assert info.value.has_error(EntityDoesNotExistError)

    def test_unknown_parent_and_property(self, backend_run: BackendRun) -> None:
        rec = (
            linkahead.Record(name="Kazoo")
            .add_parent("Whistle")
            .add_property(name="volume", value=3)
        )
        with pytest.raises(TransactionError) as info:
            rec.insert()
        text = str(info.value)
        assert "unqualified parents" in text and "unqualified properties" in text
        assert backend_run.store.changes["inserted"] == []
        assert linkahead.execute_query("COUNT ENTITY Kazoo") == 0

    def test_reference_to_missing_id(self, backend_run: BackendRun) -> None:
        rec = (
            linkahead.Record().add_parent("Guitar").add_property(name="Manufacturer", value=424242)
        )
        with pytest.raises(TransactionError, match="Referenced entity does not exist: '424242'"):
            rec.insert()

    def test_bad_value_for_datatype(self, backend_run: BackendRun) -> None:
        rec = linkahead.Record().add_parent("Guitar").add_property(name="strings", value="six")
        with pytest.raises(TransactionError, match=r"Cannot parse value to integer\. Value: 'six'"):
            rec.insert()

    def test_duplicate_name_refused_with_uniquename(self, backend_run: BackendRun) -> None:
        with pytest.raises(TransactionError) as info:
            linkahead.RecordType(name="Guitar").insert()
        assert info.value.has_error(UniqueNamesError)
        guitar_rt = linkahead.execute_query("FIND RECORDTYPE Guitar", unique=True)
        # by id: pylib would otherwise wrap the parent named "Guitar" as the record itself
        twin = linkahead.Record(name="Guitar").add_parent(id=guitar_rt.id)
        twin.add_property(name="price", value=100).insert(unique=False)
        twin.description = "shares its name with the RecordType"
        twin.update()  # keeping a shared name is no clash, even with uniquename
        twin.name = "Classic"
        with pytest.raises(TransactionError) as renamed:
            twin.update()
        assert renamed.value.has_error(UniqueNamesError)

    def test_delete_entity_still_in_use(self, backend_run: BackendRun) -> None:
        act_as(backend_run.url, ADMIN_TOKEN)  # the seeded data is the admin's
        yamaha = linkahead.execute_query("FIND Manufacturer WITH name=Yamaha", unique=True)
        with pytest.raises(TransactionError, match="required by other entities"):
            yamaha.delete()
        assert linkahead.execute_query("COUNT Manufacturer WITH name=Yamaha") == 1

    def test_forged_token_is_401(self, backend_run: BackendRun) -> None:
        linkahead.configure_connection(
            url=backend_run.url, auth_token=BACKEND_TOKEN.replace("alice", "mallory"), timeout=10
        )
        with pytest.raises(LoginFailedError):
            linkahead.execute_query("FIND Guitar")
        assert backend_run.recorder.calls[-1]["status"] == 401

    @pytest.mark.parametrize("cookie", [None, "", "not-a-token"])
    def test_missing_or_unknown_cookie_is_401_with_error_body(
        self, backend_store: EntityStore, cookie: str | None
    ) -> None:
        client = _client(backend_store)
        if cookie is not None:
            client.set_cookie("SessionToken", cookie)
        response = client.get("/Info")
        assert response.status_code == 401
        error = etree.fromstring(response.data).find("Error")
        assert error is not None and error.get("code") == "401"

    @pytest.mark.parametrize(
        ("body", "complaint"),
        [
            (b"<Insert><Record name='x'>", b"not well-formed XML"),
            (b"", b"empty"),
            (b"<Update/>", b"Expected a &lt;Insert&gt;"),
        ],
    )
    def test_malformed_body_is_400(
        self, backend_store: EntityStore, body: bytes, complaint: bytes
    ) -> None:
        client = _client(backend_store)
        client.set_cookie("SessionToken", BACKEND_TOKEN)
        response = client.post("/Entity", data=body)
        assert response.status_code == 400
        assert complaint in response.data

    def test_unknown_role_tag(self, backend_store: EntityStore) -> None:
        client = _client(backend_store)
        client.set_cookie("SessionToken", BACKEND_TOKEN)
        response = client.post("/Entity", data=b"<Insert><Gadget name='x'/></Insert>")
        assert response.status_code == 200
        assert b"Unknown entity role &lt;Gadget&gt;" in response.data


class TestMounting:
    """The app works at the root and below a context root."""

    def test_context_root(self, backend_store: EntityStore) -> None:
        recorder = CallRecorder()
        client = _client(backend_store, context_root="/linkahead/", recorder=recorder)
        client.set_cookie("SessionToken", BACKEND_TOKEN)
        assert client.get("/linkahead/Info").status_code == 200
        assert client.get("/Info").status_code == 404
        ok = client.get("/linkahead/Entity", query_string={"query": "COUNT Guitar"})
        assert etree.fromstring(ok.data).find("Query").get("results") == "3"
        assert [c["path"] for c in recorder.calls] == ["/Info", "/Info", "/Entity"]

    def test_pylib_with_context_root_url(self, backend_store: EntityStore) -> None:
        from sss_emulator.backend import BackendServer

        app = make_backend_app(backend_store, authenticate=backend_authenticate, context_root="/la")
        with BackendServer(app) as srv:
            linkahead.configure_connection(
                url=srv.url + "/la/", auth_token=BACKEND_TOKEN, timeout=10
            )
            assert linkahead.count("COUNT Piano") == 1

    def test_file_root_serves_seeded_files(
        self, backend_store: EntityStore, tmp_path: Path
    ) -> None:
        (tmp_path / "raw").mkdir()
        (tmp_path / "raw" / "a.bin").write_bytes(b"\x00\x01")
        (tmp_path / "raw" / "unnamed.bin").write_bytes(b"\x02")
        backend_store.insert([Entity(id=None, role="File", path="/raw/a.bin")])
        client = _client(backend_store, file_root=tmp_path)
        client.set_cookie("SessionToken", BACKEND_TOKEN)
        assert client.get("/FileSystem/raw/a.bin").data == b"\x00\x01"
        assert client.get("/FileSystem/../etc/passwd").status_code == 404
        # a file no File entity names is not served, as the server serves its Files
        assert client.get("/FileSystem/raw/unnamed.bin").status_code == 404


class TestWireFormat:
    """The raw XML has the shape pylib parses (checked without pylib in between)."""

    def test_query_answer(self, backend_store: EntityStore) -> None:
        client = _client(backend_store)
        client.set_cookie("SessionToken", BACKEND_TOKEN)
        root = etree.fromstring(
            client.get("/Entity", query_string={"query": "FIND Guitar", "P": "1L1"}).data
        )
        assert [c.tag for c in root] == ["UserInfo", "Query", "Record"]
        query = root.find("Query")
        assert (query.get("string"), query.get("results")) == ("FIND Guitar", "3")
        record = root.find("Record")
        assert record.find("Parent").get("name") == "Guitar"
        price = record.find("Property[@name='price']")
        assert (price.get("datatype"), price.get("unit"), price.text) == ("DOUBLE", "EUR", "300")

    def test_retrieve_by_name_and_missing_name(self, backend_store: EntityStore) -> None:
        client = _client(backend_store)
        client.set_cookie("SessionToken", BACKEND_TOKEN)
        root = etree.fromstring(client.get("/Entity/Guitar%26Nothing").data)
        found = [(c.tag, c.get("name")) for c in root if c.tag != "UserInfo"]
        assert found == [("RecordType", "Guitar"), ("Entity", "Nothing")]
        assert root.find("Entity/Error").get("code") == "101"

    def test_list_values(self, backend_store: EntityStore) -> None:
        client = _client(backend_store)
        client.set_cookie("SessionToken", BACKEND_TOKEN)
        root = etree.fromstring(client.get("/Entity", query_string={"query": "FIND Concert"}).data)
        prop = root.find("Record/Property[@name='instruments']")
        assert prop.get("datatype") == "LIST<MusicalInstrument>"
        assert len(prop.findall("Value")) == 2
