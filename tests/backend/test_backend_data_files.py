"""Seeding from the formats users have, and ``file:line`` errors when a file is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from backend_helpers import DATA

from sss_emulator.backend import DataFileError, EntityStore
from sss_emulator.backend.query.evaluate import evaluate
from sss_emulator.backend.query.parser import parse_query


def _find(store: EntityStore, query: str) -> list[str | None]:
    return [store.get(i).name for i in evaluate(parse_query(query), store)]  # type: ignore[union-attr]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


class TestFormats:
    """Each supported format yields the entities, ids and links it describes."""

    def test_server_xml_keeps_ids(self) -> None:
        store = EntityStore()
        store.load(DATA / "server_response.xml")
        assert sorted(e.id for e in store) == [201, 202, 203, 204]
        assert _find(store, "FIND Measurement WITH temperature > 280") == [None]
        assert store.get(201).unit == "K"  # type: ignore[union-attr]
        assert store.changes == {"inserted": [], "updated": [], "deleted": []}

    def test_model_yml(self) -> None:
        store = EntityStore()
        store.load(DATA / "model.yml")
        guitar = store.find_by_name("Guitar")[0]
        assert guitar.role == "RecordType"
        assert [store.name_of(p.id) for p in guitar.parents] == ["MusicalInstrument"]
        instrument = store.find_by_name("MusicalInstrument")[0]
        assert {p.name: p.importance for p in instrument.properties}["price"] == "OBLIGATORY"
        assert store.find_by_name("price")[0].datatype == "DOUBLE"
        assert store.find_by_name("instruments")[0].datatype == "LIST<MusicalInstrument>"

    def test_json_records_create_missing_definitions(self, tmp_path: Path) -> None:
        path = _write(
            tmp_path,
            "samples.json",
            json.dumps(
                [
                    {"name": "s1", "parents": ["Sample"], "properties": {"mass": 1.5, "ok": True}},
                    {"parent": "Sample", "properties": {"mass": 2.5, "tags": ["a", "b"]}},
                ]
            ),
        )
        store = EntityStore()
        store.load(path)
        assert store.find_by_name("Sample")[0].role == "RecordType"
        assert store.find_by_name("mass")[0].datatype == "DOUBLE"
        assert store.find_by_name("tags")[0].datatype == "LIST<TEXT>"
        assert len(_find(store, "FIND Sample WITH mass >= 1.5")) == 2

    def test_file_entities_from_records(self, tmp_path: Path) -> None:
        _write(tmp_path, "table.csv", "a,b\n1,2\n")
        path = _write(
            tmp_path, "files.yml", "- {role: File, path: /data/table.csv, file: table.csv}\n"
        )
        store = EntityStore()
        (entity,) = store.load(path)
        assert entity.path == "/data/table.csv" and entity.size == 8
        assert store.read_blob("data/table.csv") == b"a,b\n1,2\n"


class TestErrors:
    """A wrong data file names the file, the line and what is wrong."""

    @pytest.mark.parametrize(
        ("name", "text", "line", "what"),
        [
            ("bad.xml", "<Response>\n  <Record id='1'>\n</Response>\n", 3, "not well-formed XML"),
            ("bad.yml", "A:\n  datatype: TEXT\n   x: [\n", 3, "not valid YAML"),
            ("bad.json", '[\n  {"name": "x",}\n]\n', 2, "not valid JSON"),
            (
                "model.yml",
                "A:\n  datatype: TEXT\nB:\n  obligatory_propertys:\n    A:\n",
                4,
                "unknown keyword",
            ),
            (
                "records.yml",
                "- name: ok\n  parents: [T]\n- name: bad\n  parents: [T]\n  colour: red\n",
                3,
                "unknown key(s) colour",
            ),
            (
                "refs.yml",
                "- name: x\n  parents: [T]\n  properties:\n    p: {value: Nobody, datatype: T}\n",
                1,
                "Referenced entity does not exist: 'Nobody'",
            ),
            (
                "ids.xml",
                "<Response>\n<Record id='5'/>\n<Record id='5'/>\n</Response>\n",
                3,
                "Id 5 is given to two entities",
            ),
            (
                "parents.xml",
                "<Response>\n<Record id='5'>\n<Parent name='Missing'/>\n</Record>\n</Response>\n",
                2,
                "parent 'Missing': Entity does not exist.",
            ),
        ],
    )
    def test_error_names_file_and_line(
        self, tmp_path: Path, name: str, text: str, line: int, what: str
    ) -> None:
        path = _write(tmp_path, name, text)
        store = EntityStore()
        with pytest.raises(DataFileError) as info:
            store.load(path)
        assert str(info.value).startswith(f"{path}:{line}: ")
        assert what in str(info.value)
        assert len(store) == 0

    def test_unknown_suffix(self, tmp_path: Path) -> None:
        with pytest.raises(DataFileError, match=r"unknown data file type '\.csv'"):
            EntityStore().load(_write(tmp_path, "x.csv", "a,b"))


def test_sqlite_store_survives_a_restart(tmp_path: Path) -> None:
    """``serve`` keeps its data: a second store on the same file sees inserts and deletes."""
    db = tmp_path / "store.sqlite"
    first = EntityStore(sqlite_path=db)
    first.load(DATA / "model.yml")
    first.load(DATA / "records.yml")
    first.add_blob("/x/y.txt", b"payload")
    gone = first.find_by_name("Classic")[0]
    _answers, ok = first.delete([str(gone.id)])
    assert ok
    first.close()
    second = EntityStore(sqlite_path=db)
    assert _find(second, "FIND Guitar") == ["Stratocaster", "Bass Twelve"]
    assert second.read_blob("x/y.txt") == b"payload"
    new_ids = [e.id for e in second.load(DATA / "server_response.xml")]
    assert new_ids == [201, 202, 203, 204]
    assert second.revision >= 1
    second.close()
