"""The query language beyond the basics, driven through the real pylib against the stand-in.

The seeded data (tests/backend/data) has Guitars, a Piano, Manufacturers and a Concert; each
test adds what it needs through pylib, the way a script would.
"""

from __future__ import annotations

from pathlib import Path

import linkahead
import pytest
from backend_helpers import BackendRun
from linkahead.exceptions import HTTPClientError, HTTPServerError, TransactionError
from linkahead.utils.escape import escape_squoted_text

from sss_emulator.backend.model import Entity, ParentRef


def _names(query: str) -> list[str]:
    return sorted(str(e.name) for e in linkahead.execute_query(query))


def _guitar(name: str, **props: object) -> linkahead.Record:
    rec = linkahead.Record(name=name).add_parent("Guitar")
    rec.add_property(name="price", value=props.pop("price", 100))
    for key, value in props.items():
        rec.add_property(name=key, value=value)
    return rec.insert()


class TestNullAndNegation:
    def test_is_null_and_is_not_null(self, backend_run: BackendRun) -> None:
        _guitar("Unbuilt", built=None)
        assert _names("FIND Guitar WITH built IS NULL") == ["Unbuilt"]
        assert _names("FIND Guitar WITH 'built' IS NOT NULL") == [
            "Bass Twelve", "Classic", "Stratocaster",
        ]  # fmt: skip

    def test_doesnt_have_and_hasnt(self, backend_run: BackendRun) -> None:
        expected = ["Bass Twelve"]
        assert _names("FIND MusicalInstrument WHICH DOESN'T HAVE A Manufacturer") == expected
        assert _names("FIND MusicalInstrument WHICH HASN'T A Manufacturer") == expected
        assert _names("FIND MusicalInstrument WHERE NOT Manufacturer") == expected


class TestNestingAndPaths:
    def test_filters_nested_three_levels(self, backend_run: BackendRun) -> None:
        query = "FIND Concert WITH instruments WITH Manufacturer WITH country=USA"
        assert _names(query) == ["Spring Gala"]
        assert _names("FIND Concert WITH instruments WITH Manufacturer WITH country=Peru") == []

    def test_property_path_is_the_nested_filter(self, backend_run: BackendRun) -> None:
        assert _names("FIND Concert WITH instruments.Manufacturer.country = USA") == [
            "Spring Gala"
        ]

    def test_deep_nesting_is_a_client_error_not_a_crash(self, backend_run: BackendRun) -> None:
        deep = "FIND Guitar WITH " + "(" * 200 + "price > 1" + ")" * 200
        with pytest.raises(HTTPClientError) as info:
            linkahead.execute_query(deep)
        assert info.value.status == 400
        assert b"nested more than 64 levels" in info.value.body
        with pytest.raises(HTTPClientError):
            linkahead.execute_query("COUNT Guitar WITH " + "NOT " * 500 + "price")
        assert _names("FIND Guitar WITH ((((price > 1000))))") == ["Stratocaster"]


class TestSelect:
    def test_select_a_path_nests_the_referenced_entity(self, backend_run: BackendRun) -> None:
        rows = linkahead.execute_query("SELECT Manufacturer.country FROM Guitar WITH Manufacturer")
        table = sorted(rows.get_property_values("name", ("Manufacturer", "country")))
        assert table == [("Classic", "Japan"), ("Stratocaster", "USA")]
        strat = next(e for e in rows if e.name == "Stratocaster")
        assert strat.get_property("price") is None

    def test_select_a_path_through_a_list(self, backend_run: BackendRun) -> None:
        (gala,) = linkahead.execute_query("SELECT instruments.price FROM Concert")
        instruments = gala.get_property("instruments").value
        assert sorted(i.get_property("price").value for i in instruments) == [1200.5, 45000.0]

    def test_select_star_is_everything(self, backend_run: BackendRun) -> None:
        strat = linkahead.execute_query("SELECT * FROM Guitar WITH name=Stratocaster", unique=True)
        assert {p.name for p in strat.get_properties()} == {
            "price", "strings", "electric", "Manufacturer", "built",
        }  # fmt: skip


class TestReferencesShorthand:
    def test_arrow(self, backend_run: BackendRun) -> None:
        assert _names("FIND Concert -> Grand") == ["Spring Gala"]
        assert _names("FIND Concert WITH instruments -> Grand") == ["Spring Gala"]
        assert _names("FIND Concert WITH instruments -> Nothing") == []
        assert _names("FIND Guitar WITH Manufacturer -> Yamaha") == ["Classic"]

    def test_referenced_by_through_a_property(self, backend_run: BackendRun) -> None:
        assert _names("FIND Piano WHICH IS REFERENCED BY A Concert AS AN instruments") == [
            "Grand"
        ]
        assert _names("FIND Piano WHICH IS REFERENCED BY A Concert AS A title") == []


class TestUnits:
    def test_same_unit_and_prefixes(self, backend_run: BackendRun) -> None:
        assert _names("FIND Guitar WITH price > 1000 EUR") == ["Stratocaster"]
        assert _names("FIND Guitar WITH price > 1 kEUR") == ["Stratocaster"]
        assert _names("FIND Guitar WITH price > 0.9kEUR") == ["Bass Twelve", "Stratocaster"]

    def test_numbers_with_an_exponent(self, backend_run: BackendRun) -> None:
        """Issue 21: ``1.5e7`` was read as 1.5 in the unit ``e7``."""
        assert _names("FIND Guitar WITH price > 1.5e7") == []
        assert _names("FIND MusicalInstrument WITH price > 4E4") == ["Grand"]
        assert _names("FIND Guitar WITH price > 1E-3") == ["Bass Twelve", "Classic", "Stratocaster"]
        assert linkahead.execute_query("COUNT Guitar WITH price > -2.5e+4") == 3
        assert _names("FIND Guitar WITH price < 1.2e3") == ["Bass Twelve", "Classic"]
        assert _names("FIND Guitar WITH strings > 1e1") == ["Bass Twelve"]
        assert _names("FIND Guitar WITH strings = 1.2e1") == ["Bass Twelve"]
        assert _names("FIND Guitar WITH price = 3e2") == ["Classic"]

    def test_numbers_with_an_exponent_and_a_unit(self, backend_run: BackendRun) -> None:
        assert _names("FIND Guitar WITH price > 1.0e3 EUR") == ["Stratocaster"]
        assert _names("FIND Guitar WITH price > 9e-1 kEUR") == ["Bass Twelve", "Stratocaster"]
        assert _names("FIND Guitar WITH price > 1.5e2EUR") == ["Bass Twelve", "Classic",
                                                               "Stratocaster"]
        with pytest.raises(TransactionError, match="unit conversion"):
            linkahead.execute_query("FIND Guitar WITH price > 1.5e7 USD")

    def test_other_units_are_refused_by_name(self, backend_run: BackendRun) -> None:
        with pytest.raises(TransactionError, match="unit conversion"):
            linkahead.execute_query("FIND Guitar WITH price > 1000 USD")
        with pytest.raises(HTTPServerError, match="unit conversion"):
            linkahead.execute_query("COUNT Guitar WITH price > 1000 USD")


class TestNames:
    def test_regex(self, backend_run: BackendRun) -> None:
        assert _names("FIND RECORD <<^gr[aeiou]nd$>>") == ["Grand"]
        assert _names("FIND Guitar WITH Manufacturer -> <<^yam>>") == ["Classic"]

    def test_escaped_star_from_get_entity_by(self, backend_run: BackendRun) -> None:
        literal = linkahead.Record(name="a*b").add_parent("Manufacturer").insert()
        linkahead.Record(name="aXb").add_parent("Manufacturer").insert()
        assert linkahead.utils.get_entity.get_entity_by_name("a*b").id == literal.id
        found = linkahead.execute_query(
            f"FIND ENTITY WITH name='{escape_squoted_text('a*b')}'"
        )
        assert [e.id for e in found] == [literal.id]
        assert _names("FIND Manufacturer WITH name='a*b'") == ["a*b", "aXb"]


class TestStoredAt:
    @pytest.fixture
    def files(self, backend_run: BackendRun, tmp_path: Path) -> None:
        for path in ("/data/y.txt", "/data/x/y.txt", "/data/x/z/w.txt", "/other/q*.txt"):
            local = tmp_path / path.strip("/").replace("/", "_")
            local.write_text(path)
            linkahead.File(name=path, path=path, file=str(local)).insert()

    def test_star_stays_in_a_folder(self, files: None) -> None:
        assert _names("FIND FILE WHICH IS STORED AT '/data/*.txt'") == ["/data/y.txt"]
        assert _names("FIND FILE WHICH IS STORED AT '/data/*/*.txt'") == ["/data/x/y.txt"]

    def test_double_star_crosses_folders(self, files: None) -> None:
        assert _names("FIND FILE WHICH IS STORED AT '/data/**.txt'") == [
            "/data/x/y.txt", "/data/x/z/w.txt", "/data/y.txt",
        ]  # fmt: skip
        assert _names("FIND FILE WHICH IS STORED AT '/data/**/w.txt'") == ["/data/x/z/w.txt"]

    def test_get_entity_by_path_escapes_the_star(self, files: None) -> None:
        assert linkahead.utils.get_entity.get_entity_by_path("/other/q*.txt").path == (
            "/other/q*.txt"
        )


class TestDates:
    @pytest.fixture
    def dated(self, backend_run: BackendRun) -> None:
        for name, built in (
            ("Year", "2019"),
            ("Month", "2019-05"),
            ("Day", "2019-05-03"),
            ("Noon", "2019-05-03T12:00:00Z"),
            ("Spaced", "2019-05-03 14:00:00+02:00"),
            ("Later", "2020-01-01T00:00:00.5+01:00"),
        ):
            _guitar(name, built=built)

    def test_in_a_partial_date(self, dated: None) -> None:
        assert _names("FIND Guitar WITH built IN 2019-05") == [
            "Day", "Month", "Noon", "Spaced",
        ]  # fmt: skip
        assert "Year" in _names("FIND Guitar WITH built IN 2019")
        assert "Year" not in _names("FIND Guitar WITH built IN 2019-05")
        assert "Year" in _names("FIND Guitar WITH built NOT IN 2019-05")

    def test_equality_is_the_same_interval(self, dated: None) -> None:
        assert _names("FIND Guitar WITH built = 2019") == ["Year"]
        assert _names("FIND Guitar WITH built = '2019-05-03T12:00:00+00:00'") == [
            "Noon", "Spaced",
        ]  # fmt: skip
        assert _names("FIND Guitar WITH built = '2019-05-03 12:00:00Z'") == ["Noon", "Spaced"]

    def test_order_across_forms_and_zones(self, dated: None) -> None:
        assert _names("FIND Guitar WITH built > 2019-12-31T23:59:59Z") == ["Bass Twelve"]
        assert "Later" in _names("FIND Guitar WITH built >= 2019-12-31T23:00:00Z")
        assert _names("FIND Guitar WITH built < 2019-05-03T12:00:01Z AND built IN 2019") == [
            "Noon", "Spaced",
        ]  # fmt: skip

    def test_caoscrawler_date_query(self, dated: None) -> None:
        # caoscrawler sends date.isoformat() / datetime.isoformat() values
        query = "FIND RECORD 'Guitar' WITH 'built'='2019-05-03' AND 'price'='100' "
        assert _names(query) == ["Day"]


class TestTransactions:
    def test_inserted_by_me(self, backend_run: BackendRun) -> None:
        mine = _guitar("Mine")
        # the seeded records were inserted by admin; the token is alice's
        assert _names("FIND Guitar WHICH WAS INSERTED BY ME") == ["Mine"]
        assert "Mine" not in _names("FIND Guitar WHICH WAS INSERTED BY SOMEONE ELSE")
        assert _names("FIND Guitar WHICH WAS CREATED BY 'alice'") == ["Mine"]
        assert _names("FIND Guitar WHICH HAS BEEN INSERTED BY ad*") == [
            "Bass Twelve", "Classic", "Stratocaster",
        ]  # fmt: skip
        assert _names("FIND Guitar WHICH WAS UPDATED BY ME") == []
        mine.description = "changed"
        mine.update()
        assert _names("FIND Guitar WHICH WAS UPDATED BY ME") == ["Mine"]

    def test_time_filters(self, backend_run: BackendRun) -> None:
        _guitar("Mine")
        assert "Mine" in _names("FIND Guitar WHICH WAS INSERTED TODAY")
        assert "Mine" in _names("FIND Guitar WHICH WAS INSERTED SINCE 2020")
        assert _names("FIND Guitar WHICH WAS INSERTED BEFORE 2020") == []
        assert _names("FIND Guitar WHICH WAS INSERTED BY ME AFTER 2999") == []


class TestVersionsInQueries:
    def test_any_version_of(self, backend_run: BackendRun) -> None:
        rec = _guitar("Changing", price=10)
        first = rec.version.id
        rec.get_property("price").value = 20
        rec.update()
        assert _names("FIND Guitar WITH price = 10") == []
        old = linkahead.execute_query("FIND ANY VERSION OF Guitar WITH price = 10")
        assert [(e.id, e.version.id) for e in old] == [(rec.id, first)]
        both = linkahead.execute_query("FIND ANY VERSION OF Guitar WITH name=Changing")
        assert [e.version.id for e in both] == [first, rec.version.id]
        assert [e.version.is_head for e in both] == [False, True]
        assert linkahead.execute_query("COUNT ANY VERSION OF Guitar WITH name=Changing") == 2

    def test_any_version_of_a_role_without_a_name(self, backend_run: BackendRun) -> None:
        """Issue 21: without a RecordType name the role's ids are patched with the old
        versions', and answered 500 (``TypeError``) once any entity had been updated."""
        rec = _guitar("Changing", price=10)
        first = rec.version.id
        rec.get_property("price").value = 20
        rec.update()
        records = len(linkahead.execute_query("FIND RECORD"))
        found = linkahead.execute_query("FIND ANY VERSION OF RECORD")
        assert len(found) == records + 1
        assert [e.version.id for e in found if e.id == rec.id] == [first, rec.version.id]
        old = linkahead.execute_query("FIND ANY VERSION OF RECORD WITH price = 10")
        assert [(e.id, e.version.id) for e in old] == [(rec.id, first)]
        entities = linkahead.execute_query("COUNT ENTITY")
        assert linkahead.execute_query("COUNT ANY VERSION OF ENTITY") == entities + 1
        assert linkahead.execute_query("COUNT ANY VERSION OF ENTITY WITH price = 10") == 1


class TestCaoscrawlerQueries:
    """The identifiable queries caoscrawler 0.15 generates (``create_query_for_identifiable``)."""

    @pytest.fixture
    def sample(self, backend_run: BackendRun) -> dict[str, int]:
        store = backend_run.store
        model = [
            Entity(id=-1, role="RecordType", name="Sample"),
            Entity(id=-2, role="Property", name="id*", datatype="TEXT"),
            Entity(id=-3, role="Property", name="tags", datatype="LIST<TEXT>"),
            Entity(id=-4, role="Property", name="parent", datatype="REFERENCE"),
            Entity(id=-5, role="Property", name="flag", datatype="BOOLEAN"),
            Entity(id=-6, role="Property", name="dt", datatype="DATETIME"),
            Entity(id=-7, role="Property", name="missing", datatype="TEXT"),
            Entity(id=-8, role="Property", name="n", datatype="DOUBLE"),
            Entity(id=-9, role="RecordType", name="Measurement"),
            Entity(id=-10, role="Property", name="run", datatype="INTEGER"),
            Entity(id=-11, role="RecordType", name="Ev"),
            Entity(id=-12, role="Property", name="start", datatype="DATETIME"),
            Entity(id=-13, role="RecordType", name="Note"),
            Entity(id=-14, role="Property", name="text", datatype="TEXT"),
        ]
        _answers, ok = store.insert(model)
        assert ok
        rec = linkahead.Record(name="s1").add_parent("Sample")
        for name, value in (
            ("id*", "a*b"), ("tags", ["x", "y"]), ("parent", 123), ("flag", True),
            ("dt", "2022-02-03T04:05:06"), ("missing", None), ("n", 1.5),
        ):  # fmt: skip
            rec.add_property(name=name, value=value)
        rec.get_property("parent").value = linkahead.execute_query(
            "FIND Manufacturer WITH name=Yamaha", unique=True
        ).id
        rec.insert()
        measurement = linkahead.Record(name="m1").add_parent("Measurement")
        measurement.add_property(name="run", value=7).insert()
        referrer = linkahead.Record(name="r1").add_parent("Sample")
        referrer.add_property(name="parent", value=measurement.id).insert()
        linkahead.Record(name="e1").add_parent("Ev").add_property(
            name="start", value="2022-02-03T04:05:06Z"
        ).insert()
        linkahead.Record(name="n1").add_parent("Note").add_property(
            name="text", value="x" * 250
        ).insert()
        return {"parent": rec.get_property("parent").value, "referrer": referrer.id}

    def test_generated_queries_find_the_identifiable(self, sample: dict[str, int]) -> None:
        queries = {
            "s1": (
                "FIND RECORD 'Sample' WITH 'id\\*'='a\\*b' AND 'tags'='x' AND 'tags'='y' AND "
                f"'parent'='{sample['parent']}' AND 'flag'='TRUE' AND 'dt'='2022-02-03T04:05:06' "
                "AND 'missing' IS NULL AND 'n'='1.5' "
            ),
            "m1": (
                f"FIND RECORD 'Measurement' WHICH IS REFERENCED BY {sample['referrer']} AND "
                "WITH 'run'='7' "
            ),
            "e1": "FIND RECORD 'Ev' WITH 'start'='2022-02-03T04:05:06+00:00' ",
            "n1": "FIND RECORD 'Note' WITH 'text' LIKE '" + "x" * 200 + "*'",
        }
        for name, query in queries.items():
            assert _names(query) == [name], query

    def test_person_with_a_quote_in_the_name(self, backend_run: BackendRun) -> None:
        linkahead.Record(name="Ada O'Hara").add_parent("Manufacturer").insert()
        assert _names("FIND RECORD 'Manufacturer' WITH name='Ada O\\'Hara'") == ["Ada O'Hara"]
        assert _names("FIND RECORDTYPE WITH name='Guitar'") == ["Guitar"]


def test_unknown_entity_in_parent_of_drafts_is_still_an_error() -> None:
    """Guard for the fixtures above: the store API refuses an unknown parent."""
    from sss_emulator.backend import EntityStore

    store = EntityStore()
    _answers, ok = store.insert([Entity(id=None, role="Record", parents=[ParentRef(None, "X")])])
    assert not ok
