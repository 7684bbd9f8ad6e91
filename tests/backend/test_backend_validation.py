"""Writes are checked as the server checks them, and pylib raises the server's exceptions.

Every test drives the stand-in through the real ``linkahead`` client (and caosadvancedtools
where scripts use it), and checks both the exception a script would catch and that nothing
was stored.
"""

from __future__ import annotations

from pathlib import Path

import linkahead
import pytest
from backend_helpers import ADMIN_TOKEN, BackendRun, act_as
from caosadvancedtools.guard import INSERT, Guard
from linkahead.exceptions import (
    EntityError,
    TransactionError,
    UnqualifiedParentsError,
    UnqualifiedPropertiesError,
)

NOT_QUALIFIED = (
    "One or more entities are not qualified. None of them have been inserted/updated/deleted."
)


def _direct_errors(error: TransactionError) -> list[EntityError]:
    return [e for e in error.all_errors if isinstance(e, EntityError) and e.msg]


def _guitar() -> linkahead.Record:
    return linkahead.Record().add_parent("Guitar")


class TestObligatoryProperties:
    """Guitar inherits MusicalInstrument's OBLIGATORY ``price`` (inherit_from_obligatory)."""

    def test_missing_obligatory_property_is_refused(self, backend_run: BackendRun) -> None:
        with pytest.raises(TransactionError) as info:
            _guitar().add_property(name="strings", value=6).insert()
        assert info.value.msg == NOT_QUALIFIED
        errors = _direct_errors(info.value)
        assert [type(e) for e in errors] == [EntityError]
        assert errors[0].msg == "An obligatory property is missing."
        assert backend_run.store.changes["inserted"] == []

    def test_present_obligatory_property_passes(self, backend_run: BackendRun) -> None:
        rec = _guitar().add_property(name="price", value=10).insert()
        assert rec.id > 0

    def test_flag_for_the_transaction(self, backend_run: BackendRun) -> None:
        rec = _guitar().insert(flags={"force-missing-obligatory": "ignore"})
        assert rec.id > 0 and rec.get_warnings() == []
        call = backend_run.recorder.calls[-1]
        assert call["params"]["force-missing-obligatory"] == "ignore"

    def test_flag_on_the_entity_wins(self, backend_run: BackendRun) -> None:
        allowed = _guitar()
        allowed.set_flag("force-missing-obligatory", "ignore")
        assert allowed.insert().id > 0
        refused = _guitar()
        refused.set_flag("force-missing-obligatory", "error")
        with pytest.raises(TransactionError, match="obligatory property is missing"):
            refused.insert(flags={"force-missing-obligatory": "ignore"})

    def test_warn_stores_and_warns(self, backend_run: BackendRun) -> None:
        rec = _guitar().insert(flags={"force-missing-obligatory": "warn"})
        assert rec.id > 0
        assert [w.description for w in rec.get_warnings()] == [
            "An obligatory property is missing."
        ]

    def test_strict_makes_the_warning_an_error(self, backend_run: BackendRun) -> None:
        with pytest.raises(TransactionError, match="obligatory property is missing"):
            _guitar().insert(strict=True, flags={"force-missing-obligatory": "warn"})
        assert backend_run.store.changes["inserted"] == []

    def test_caosadvancedtools_crawler_insert_passes(self, backend_run: BackendRun) -> None:
        # crawler.py inserts identifiables with exactly this call
        guard = Guard(level=INSERT)
        missing = linkahead.Container().append(_guitar())
        guard.safe_insert(missing, unique=False, flags={"force-missing-obligatory": "ignore"})
        assert missing[0].id in guard.freshly_created

    def test_update_is_checked_too(self, backend_run: BackendRun) -> None:
        rec = _guitar().add_property(name="price", value=10).insert()
        rec.remove_property("price")
        with pytest.raises(TransactionError, match="obligatory property is missing"):
            rec.update()

    def test_subproperty_satisfies(self, backend_run: BackendRun) -> None:
        linkahead.Property(name="list_price").add_parent("price").insert()
        rec = _guitar().add_property(name="list_price", value=12).insert()
        assert rec.id > 0

    def test_inheritance_copies_only_what_the_flag_asks(self, backend_run: BackendRun) -> None:
        # RecordType.add_parent sends inheritance=OBLIGATORY by default
        linkahead.RecordType(name="Banjo").add_parent("MusicalInstrument").insert()
        banjo = linkahead.execute_query("FIND RECORDTYPE Banjo", unique=True)
        assert [(p.name, banjo.get_importance(p)) for p in banjo.get_properties()] == [
            ("price", "OBLIGATORY")
        ]
        lute = linkahead.RecordType(name="Lute").add_parent(
            "MusicalInstrument", inheritance="NONE"
        ).insert()
        assert lute.get_properties() == []
        assert linkahead.Record().add_parent("Lute").insert().id > 0


class TestReferences:
    def test_reference_to_wrong_record_type(self, backend_run: BackendRun) -> None:
        yamaha = linkahead.execute_query("FIND Manufacturer WITH name=Yamaha", unique=True)
        concert = linkahead.Record().add_parent("Concert")
        concert.add_property(name="instruments", value=[yamaha.id])
        with pytest.raises(TransactionError) as info:
            concert.insert()
        assert info.value.has_error(UnqualifiedPropertiesError)
        (error,) = [e for e in _direct_errors(info.value) if e.entity.role == "Property"]
        assert error.entity.name == "instruments"
        assert error.msg.startswith("Reference not qualified.")

    def test_scalar_reference_to_wrong_record_type(self, backend_run: BackendRun) -> None:
        grand = linkahead.execute_query("FIND Piano WITH name=Grand", unique=True)
        rec = _guitar().add_property(name="price", value=1)
        rec.add_property(name="Manufacturer", value=grand.id)
        with pytest.raises(TransactionError) as info:
            rec.insert()
        assert info.value.has_error(UnqualifiedPropertiesError)

    def test_children_of_the_record_type_qualify(self, backend_run: BackendRun) -> None:
        guitar = linkahead.execute_query("FIND Guitar WITH name=Classic", unique=True)
        piano = linkahead.execute_query("FIND Piano WITH name=Grand", unique=True)
        concert = linkahead.Record().add_parent("Concert")
        concert.add_property(name="instruments", value=[guitar.id, piano.id]).insert()
        assert concert.id > 0

    def test_a_name_two_records_share_is_refused_as_ambiguous(
        self, backend_run: BackendRun
    ) -> None:
        """Issue 21: the reference was linked silently to the first ``Dup``."""
        first = linkahead.Record(name="Dup").add_parent("Manufacturer").insert(unique=False)
        second = linkahead.Record(name="Dup").add_parent("Manufacturer").insert(unique=False)
        before = len(backend_run.store)
        rec = _guitar().add_property(name="price", value=1)
        rec.add_property(name="Manufacturer", value="Dup")
        with pytest.raises(TransactionError) as info:
            rec.insert()
        assert info.value.msg == NOT_QUALIFIED
        assert info.value.has_error(UnqualifiedPropertiesError)
        (error,) = [e for e in _direct_errors(info.value) if e.entity.role == "Property"]
        assert error.entity.name == "Manufacturer"
        assert "name duplicates" in error.msg and "'Dup'" in error.msg
        assert len(backend_run.store) == before
        # by id it works, and a name only one entity has still resolves
        rec.get_property("Manufacturer").value = second.id
        rec.insert()
        assert rec.get_property("Manufacturer").value == second.id
        fender = linkahead.Record().add_parent("Guitar").add_property(name="price", value=2)
        fender.add_property(name="Manufacturer", value="Fender").insert()
        assert fender.get_property("Manufacturer").value not in (first.id, second.id, None)

    def test_a_list_element_and_an_update_are_checked_too(self, backend_run: BackendRun) -> None:
        for _ in range(2):
            linkahead.Record(name="Twin").add_parent("Guitar").add_property(
                name="price", value=5).insert(unique=False)
        concert = linkahead.Record().add_parent("Concert")
        concert.add_property(name="instruments", value=["Classic", "Twin"])
        with pytest.raises(TransactionError) as info:
            concert.insert()
        assert info.value.has_error(UnqualifiedPropertiesError)
        concert.get_property("instruments").value = ["Classic"]
        concert.insert()
        concert.get_property("instruments").value = ["Twin"]
        with pytest.raises(TransactionError):
            concert.update()

    def test_a_name_this_request_also_gives_is_ambiguous(self, backend_run: BackendRun) -> None:
        """A new Record named like a stored one makes the name ambiguous in the same request."""
        twin = linkahead.Record(name="Yamaha").add_parent("Manufacturer")
        rec = _guitar().add_property(name="price", value=1)
        rec.add_property(name="Manufacturer", value="Yamaha")
        with pytest.raises(TransactionError) as info:
            linkahead.Container().extend([twin, rec]).insert(unique=False)
        assert info.value.has_error(UnqualifiedPropertiesError)

    def test_renaming_an_entity_in_the_same_update_leaves_one(
        self, backend_run: BackendRun
    ) -> None:
        """An update's draft stands for its stored entity: renaming one of two ``Dup`` Records
        while referring to ``Dup`` leaves one, and that one is taken."""
        act_as(backend_run.url, ADMIN_TOKEN)  # the seeded Classic is the admin's
        first = linkahead.Record(name="Dup").add_parent("Manufacturer").insert(unique=False)
        second = linkahead.Record(name="Dup").add_parent("Manufacturer").insert(unique=False)
        classic = linkahead.execute_query("FIND Guitar WITH name=Classic", unique=True)
        first.name = "Renamed"
        classic.get_property("Manufacturer").value = "Dup"
        linkahead.Container().extend([first, classic]).update()
        assert classic.get_property("Manufacturer").value == second.id

    def test_file_datatype_needs_a_file(self, backend_run: BackendRun) -> None:
        linkahead.Property(name="scan", datatype=linkahead.FILE).insert()
        yamaha = linkahead.execute_query("FIND Manufacturer WITH name=Yamaha", unique=True)
        rec = linkahead.Record().add_parent("Manufacturer").add_property(name="scan", value=yamaha)
        with pytest.raises(TransactionError) as info:
            rec.insert()
        assert info.value.has_error(UnqualifiedPropertiesError)


class TestValues:
    @pytest.mark.parametrize("value", ["yesterday", "2020-13-01", "06:21:25", "2020-02-30"])
    def test_unparsable_datetime(self, backend_run: BackendRun, value: str) -> None:
        rec = _guitar().add_property(name="price", value=1).add_property(name="built", value=value)
        with pytest.raises(TransactionError) as info:
            rec.insert()
        assert info.value.has_error(UnqualifiedPropertiesError)
        assert "Cannot parse value to datetime format" in str(info.value)

    @pytest.mark.parametrize(
        "value",
        ["2020", "2020-05", "2020-05-17", "2020-05-17T10:30", "2020-05-17 10:30:00",
         "2020-05-17T10:30:00.123456789+02:00", "2020-05-17T10:30:00Z"],
    )  # fmt: skip
    def test_datetime_forms_accepted(self, backend_run: BackendRun, value: str) -> None:
        rec = _guitar().add_property(name="price", value=1).add_property(name="built", value=value)
        rec.insert()
        assert linkahead.Record(id=rec.id).retrieve().get_property("built").value == value

    def test_list_for_a_scalar_property(self, backend_run: BackendRun) -> None:
        rec = _guitar().add_property(name="price", value=1)
        rec.add_property(name="strings", value=[6, 7])
        with pytest.raises(TransactionError) as info:
            rec.insert()
        assert info.value.has_error(UnqualifiedPropertiesError)
        assert "does not accept collections" in str(info.value)

    @pytest.mark.parametrize("datatype", ["FOO", "LIST<NoSuchRT>", "LIST<FOO>"])
    def test_unknown_datatype(self, backend_run: BackendRun, datatype: str) -> None:
        with pytest.raises(TransactionError) as info:
            linkahead.Property(name="weird", datatype=datatype).insert()
        (error,) = _direct_errors(info.value)
        assert type(error) is EntityError and error.msg.startswith("Unknown datatype.")

    def test_a_record_cannot_be_a_datatype(self, backend_run: BackendRun) -> None:
        with pytest.raises(TransactionError, match="Unknown datatype"):
            linkahead.Property(name="weird", datatype="Yamaha").insert()

    def test_datatype_given_as_entity_comes_back_as_its_name(
        self, backend_run: BackendRun
    ) -> None:
        maker = linkahead.execute_query("FIND RECORDTYPE Manufacturer", unique=True)
        prop = linkahead.Property(name="builder", datatype=maker).insert()
        assert prop.datatype == "Manufacturer"
        assert linkahead.Property(id=prop.id).retrieve().datatype == "Manufacturer"
        listed = linkahead.Property(name="builders", datatype=f"LIST<{maker.id}>").insert()
        assert linkahead.Property(id=listed.id).retrieve().datatype == "LIST<Manufacturer>"
        atomic = linkahead.Property(name="note", datatype="text").insert()
        assert atomic.datatype == linkahead.TEXT

    def test_renaming_the_record_type_renames_the_datatype(self, backend_run: BackendRun) -> None:
        act_as(backend_run.url, ADMIN_TOKEN)  # the seeded data is the admin's
        maker = linkahead.execute_query("FIND RECORDTYPE Manufacturer", unique=True)
        prop = linkahead.Property(name="builders", datatype=linkahead.LIST(maker)).insert()
        maker.name = "Maker"
        maker.update()
        assert linkahead.Property(id=prop.id).retrieve().datatype == "LIST<Maker>"
        fender = linkahead.execute_query("FIND Maker WITH name=Fender", unique=True)
        assert fender.get_parents()[0].name == "Maker"


class TestStructure:
    def test_record_as_parent_of_a_record_type(self, backend_run: BackendRun) -> None:
        yamaha = linkahead.execute_query("FIND Manufacturer WITH name=Yamaha", unique=True)
        with pytest.raises(TransactionError) as info:
            linkahead.RecordType(name="Sub").add_parent(yamaha).insert()
        assert info.value.has_error(UnqualifiedParentsError)
        assert "Affiliation is not defined" in str(info.value)

    def test_update_cannot_change_the_role(self, backend_run: BackendRun) -> None:
        yamaha = linkahead.execute_query("FIND Manufacturer WITH name=Yamaha", unique=True)
        as_type = linkahead.RecordType(id=yamaha.id, name="Yamaha")
        with pytest.raises(TransactionError, match="cannot change its role"):
            as_type.update()
        assert backend_run.store.get(yamaha.id).role == "Record"  # type: ignore[union-attr]

    def test_inheritance_cycle(self, backend_run: BackendRun) -> None:
        a = linkahead.RecordType(name="A").insert()
        linkahead.RecordType(name="B").add_parent(a).insert()
        a.add_parent("B")
        with pytest.raises(TransactionError) as info:
            a.update()
        assert info.value.has_error(UnqualifiedParentsError)
        assert "Circular inheritance" in str(info.value)
        assert linkahead.RecordType(id=a.id).retrieve().get_parents() == []

    def test_file_without_contents(self, backend_run: BackendRun) -> None:
        with pytest.raises(TransactionError, match="File has not been uploaded"):
            linkahead.File(name="f", path="/data/nothing.txt").insert()

    def test_file_in_the_file_root_needs_no_upload(
        self, backend_run: BackendRun, tmp_path: Path
    ) -> None:
        # the backend_run fixture serves tmp_path as the stand-in's file system
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "there.txt").write_text("x")
        assert linkahead.File(name="f", path="/data/there.txt").insert().id > 0

    def test_file_with_upload(self, backend_run: BackendRun, tmp_path: Path) -> None:
        local = tmp_path / "up.txt"
        local.write_text("contents")
        assert linkahead.File(name="up", path="/up.txt", file=str(local)).insert().id > 0

    def test_every_error_leaves_the_store_unchanged(self, backend_run: BackendRun) -> None:
        good = _guitar().add_property(name="price", value=1)
        bad = _guitar().add_property(name="price", value=1).add_property(name="built", value="x")
        with pytest.raises(TransactionError):
            linkahead.Container().extend([good, bad]).insert()
        assert backend_run.store.changes["inserted"] == []
