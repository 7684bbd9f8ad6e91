"""The LQL subset: the parser's grammar, its refusals, and what each form returns through pylib."""

from __future__ import annotations

import re
from pathlib import Path

import linkahead
import pytest
from backend_helpers import ADMIN_TOKEN, DATA, BackendRun, act_as
from hypothesis import given, settings
from hypothesis import strategies as st
from linkahead.exceptions import HTTPServerError, TransactionError

from sss_emulator.backend import EntityStore
from sss_emulator.backend.query.evaluate import evaluate
from sss_emulator.backend.query.lexer import tokenize
from sss_emulator.backend.query.parser import (
    And,
    NamePattern,
    Not,
    Or,
    PropertyCondition,
    QuerySyntaxError,
    ReferencedBy,
    References,
    StoredAt,
    Target,
    TransactionFilter,
    parse_query,
)


class TestParser:
    """The parser turns each supported form into the AST the evaluator expects."""

    def test_tokens_keep_quoted_text_and_positions(self) -> None:
        tokens = tokenize("FIND 'a \\'b' WITH p>=2.5")
        assert [(t.kind, t.text, t.pos) for t in tokens] == [
            ("WORD", "FIND", 0),
            ("STRING", "a 'b", 5),
            ("WORD", "WITH", 13),
            ("WORD", "p", 18),
            ("OP", ">=", 19),
            ("WORD", "2.5", 21),
        ]

    @pytest.mark.parametrize(
        ("text", "target", "condition"),
        [
            ("FIND Guitar", Target(None, NamePattern("Guitar")), None),
            ("find record guitar", Target("RECORD", NamePattern("guitar")), None),
            ('FIND "Nice Guitar"', Target(None, NamePattern("Nice Guitar")), None),
            ("FIND RecordType Gui*", Target("RECORDTYPE", NamePattern("Gui*")), None),
            ("FIND ENTITY", Target("ENTITY", None), None),
            (
                "FIND Guitar.price=3",
                Target(None, NamePattern("Guitar")),
                PropertyCondition("price", "=", "3"),
            ),
            (
                "FIND Guitar WHICH HAS A PROPERTY price < 3",
                Target(None, NamePattern("Guitar")),
                PropertyCondition("price", "<", "3"),
            ),
            (
                "FIND Guitar WITH price AND strings != 6 OR NOT electric",
                Target(None, NamePattern("Guitar")),
                Or(
                    (
                        And((PropertyCondition("price"), PropertyCondition("strings", "!=", "6"))),
                        Not(PropertyCondition("electric")),
                    )
                ),
            ),
            (
                "FIND Guitar WITH (price > 1 OR price < 0) AND WHICH HAS NOT A strings",
                Target(None, NamePattern("Guitar")),
                And(
                    (
                        Or(
                            (
                                PropertyCondition("price", ">", "1"),
                                PropertyCondition("price", "<", "0"),
                            )
                        ),
                        Not(PropertyCondition("strings")),
                    )
                ),
            ),
            (
                "FIND Concert WITH instruments WITH price > 1000",
                Target(None, NamePattern("Concert")),
                PropertyCondition("instruments", sub=PropertyCondition("price", ">", "1000")),
            ),
            (
                "FIND Concert WHICH REFERENCES Grand",
                Target(None, NamePattern("Concert")),
                References(NamePattern("Grand")),
            ),
            (
                "FIND Guitar WHICH IS REFERENCED BY A Concert",
                Target(None, NamePattern("Guitar")),
                ReferencedBy(NamePattern("Concert")),
            ),
            (
                "FIND FILE . STORED AT '/data/*.csv'",
                Target("FILE", None),
                StoredAt("/data/*.csv"),
            ),
            (
                "FIND ENTITY WITH name LIKE 'Str*'",
                Target("ENTITY", None),
                PropertyCondition("name", "LIKE", "Str*"),
            ),
        ],
    )
    def test_supported_forms(self, text: str, target: Target, condition: object) -> None:
        parsed = parse_query(text)
        assert (parsed.target, parsed.filter) == (target, condition)

    @pytest.mark.parametrize(
        ("text", "condition"),
        [
            ("FIND X WITH a=1", PropertyCondition("a", "=", "1")),
            ("FIND X WITH A a", PropertyCondition("a")),
            ("FIND X WITH updated > 3", PropertyCondition("updated", ">", "3")),
            ("FIND X WITH b=1 AND stored=2",
             And((PropertyCondition("b", "=", "1"), PropertyCondition("stored", "=", "2")))),
            ("FIND X WHICH WAS UPDATED BY ME", TransactionFilter("UPDATED", "ME", True)),
            ("FIND X INSERTED SINCE 2024", TransactionFilter("INSERTED", when=("SINCE", "2024"))),
            ("FIND X WITH p IS NOT NULL", PropertyCondition("p", "IS NOT NULL")),
            ("FIND X WITH d NOT IN 2019", PropertyCondition("d", "NOT IN", "2019")),
            ("FIND X WITH p > 2 kg", PropertyCondition("p", ">", "2", unit="kg")),
            ("FIND X WITH t > 240°C", PropertyCondition("t", ">", "240", unit="°C")),
            ("FIND X WITH name='a\\*b'", PropertyCondition("name", "=", "a\\*b")),
            ("FIND X WITH a.b = 1", PropertyCondition("a", sub=PropertyCondition("b", "=", "1"))),
        ],
    )  # fmt: skip
    def test_words_that_are_also_names(self, text: str, condition: object) -> None:
        """A property may be called ``a``, ``updated`` or ``stored``; keywords only where they
        are unambiguous."""
        assert parse_query(text).filter == condition

    def test_escapes_keep_literal_stars(self) -> None:
        (token,) = tokenize("'a\\*b*'")
        assert (token.text, token.glob) == ("a*b*", "a\\*b*")

    def test_select_lists_properties(self) -> None:
        parsed = parse_query("SELECT price, 'strings' FROM Guitar WITH electric=TRUE")
        assert parsed.verb == "SELECT"
        assert parsed.selectors == (("price",), ("strings",))

    @pytest.mark.parametrize(
        ("text", "named"),
        [
            ("FIND Guitar WITH price IN (1, 2)", "IN with a list ('IN (…)') is not supported"),
            ("FIND Guitar WITH price = ", "expected a value"),
            ("DELETE Guitar", "starts with FIND, COUNT or SELECT"),
            ("FIND Guitar WITH (price = 1", "expected ')'"),
            ("FIND 'open", "unterminated quoted string"),
            ("FIND <<[a-z>>", "regular expression <<[a-z>> is invalid"),
            ("FIND <<open", "unterminated regular expression"),
            ("FIND A WITH b=1 ~", "expected AND, OR or the end of the query, got '~'"),
            ("SELECT a..b FROM Guitar", "has an empty part"),
            ("FIND Guitar WHICH WAS DELETED", "expected INSERTED, CREATED or UPDATED"),
            ("FIND Guitar WITH THE BIGGEST price", "expected GREATEST or SMALLEST"),
            ("FIND A WITH " + "(" * 70 + "b=1" + ")" * 70, "nested more than 64 levels"),
            ("FIND A WITH " + ".".join(["p"] * 70) + "=1", "longer than 64 parts"),
        ],
    )
    def test_malformed_forms_name_the_part(self, text: str, named: str) -> None:
        with pytest.raises(QuerySyntaxError) as info:
            parse_query(text)
        assert named in str(info.value)


def _names(result: object) -> list[str]:
    return sorted(e.name for e in result)  # type: ignore[attr-defined]


class TestQueriesThroughPylib:
    """The real pylib gets the results and value types a server would give."""

    @pytest.mark.parametrize(
        ("query", "names"),
        [
            ("FIND Guitar", ["Bass Twelve", "Classic", "Stratocaster"]),
            ("find musicalinstrument", ["Bass Twelve", "Classic", "Grand", "Stratocaster"]),
            ('FIND "Bass Twelve"', ["Bass Twelve"]),
            ("FIND Stra*", ["Stratocaster"]),
            ("FIND RECORDTYPE MusicalInstrument", ["Guitar", "MusicalInstrument", "Piano"]),
            ("FIND PROPERTY price", ["price"]),
            ("FIND ENTITY Grand", ["Grand"]),
            ("FIND Guitar.strings=12", ["Bass Twelve"]),
            ("FIND Guitar WITH price > 900", ["Bass Twelve", "Stratocaster"]),
            ("FIND Guitar WITH price>=950 AND price<=950", ["Bass Twelve"]),
            (
                "FIND MusicalInstrument WHICH HAS A PROPERTY price < 1000",
                ["Bass Twelve", "Classic"],
            ),
            ("FIND Guitar WITH strings != 6", ["Bass Twelve"]),
            ("FIND Guitar WITH electric = true", ["Bass Twelve", "Stratocaster"]),
            ("FIND MusicalInstrument WHICH HAS NOT A Manufacturer", ["Bass Twelve"]),
            ("FIND MusicalInstrument WITH NOT Manufacturer", ["Bass Twelve"]),
            ("FIND MusicalInstrument WHICH DOES NOT HAVE A Manufacturer", ["Bass Twelve"]),
            ("FIND RECORD 'Guitar' WITH 'price'='300' AND name='Classic'", ["Classic"]),
            ("FIND Guitar WITH name LIKE '*as*'", ["Bass Twelve", "Classic", "Stratocaster"]),
            ("FIND MusicalInstrument WITH Manufacturer = Yamaha", ["Classic", "Grand"]),
            ("FIND MusicalInstrument WITH Manufacturer WITH country = USA", ["Stratocaster"]),
            ("FIND Concert WITH title LIKE 'strings*'", ["Spring Gala"]),
            ("FIND Concert WHICH REFERENCES Grand", ["Spring Gala"]),
            ("FIND Concert WHICH REFERENCES A Piano", ["Spring Gala"]),
            ("FIND Concert WITH instruments WITH price > 40000", ["Spring Gala"]),
            ("FIND Manufacturer WHICH IS REFERENCED BY A Piano", ["Yamaha"]),
            ("FIND Guitar WITH built > 2010-01-01", ["Bass Twelve", "Classic"]),
            (
                "FIND MusicalInstrument WITH (strings = 12 OR price > 10000) AND built < 2015",
                ["Grand"],
            ),
            ("FIND Guitar WITH strings=6 AND NOT electric=TRUE", ["Classic"]),
        ],
    )
    def test_find(self, backend_run: BackendRun, query: str, names: list[str]) -> None:
        assert _names(linkahead.execute_query(query)) == names

    def test_name_and_id_filters(self, backend_run: BackendRun) -> None:
        grand = linkahead.execute_query("FIND ENTITY WITH name='Grand'", unique=True)
        again = linkahead.execute_query(f"FIND ENTITY WITH ID={grand.id}", unique=True)
        assert (again.name, again.id) == ("Grand", grand.id)
        by_id = linkahead.execute_query(
            f"FIND MusicalInstrument WITH Manufacturer={grand.get_property('Manufacturer').value}"
        )
        assert _names(by_id) == ["Classic", "Grand"]

    def test_description_filter(self, backend_run: BackendRun) -> None:
        act_as(backend_run.url, ADMIN_TOKEN)  # the seeded data is the admin's
        strat = linkahead.execute_query("FIND Guitar WITH name=Stratocaster", unique=True)
        strat.description = "sunburst finish"
        strat.update()
        assert _names(linkahead.execute_query("FIND Guitar WITH description LIKE '*burst*'")) == [
            "Stratocaster"
        ]
        assert linkahead.execute_query("COUNT Guitar WITH description = 'sunburst'") == 0

    def test_values_come_back_typed(self, backend_run: BackendRun) -> None:
        strat = linkahead.execute_query("FIND Guitar WITH name=Stratocaster", unique=True)
        assert strat.get_property("price").value == 1200.5
        assert strat.get_property("strings").value == 6
        assert strat.get_property("electric").value is True
        fender = linkahead.execute_query("FIND Manufacturer WITH name=Fender", unique=True)
        assert strat.get_property("Manufacturer").value == fender.id
        assert strat.get_property("price").unit == "EUR"
        gala = linkahead.execute_query("FIND Concert", unique=True)
        assert isinstance(gala.get_property("instruments").value, list)
        assert len(gala.get_property("instruments").value) == 2

    def test_count(self, backend_run: BackendRun) -> None:
        assert linkahead.execute_query("COUNT MusicalInstrument") == 4
        assert linkahead.execute_query("COUNT Guitar WITH electric=TRUE") == 2
        assert linkahead.execute_query("COUNT Guitar WITH price > 99999") == 0

    def test_select_returns_only_the_selected_properties(self, backend_run: BackendRun) -> None:
        rows = linkahead.select("SELECT price, strings FROM Guitar WITH strings")
        assert sorted(rows.get_property_values("name", "price", "strings")) == [
            ("Bass Twelve", 950.0, 12),
            ("Classic", 300.0, 6),
            ("Stratocaster", 1200.5, 6),
        ]
        assert all(e.get_property("electric") is None for e in rows)

    def test_paging(self, backend_run: BackendRun) -> None:
        pages = list(linkahead.execute_query("FIND MusicalInstrument", page_length=3))
        assert [len(p) for p in pages] == [3, 1]
        assert _names([e for p in pages for e in p]) == [
            "Bass Twelve",
            "Classic",
            "Grand",
            "Stratocaster",
        ]
        assert any(c["params"].get("P") == "3L3" for c in backend_run.recorder.calls)

    def test_query_answer_carries_query_element(self, backend_run: BackendRun) -> None:
        result = linkahead.execute_query("FIND Guitar WITH strings=6")
        assert result.query.q == "FIND Guitar WITH strings=6"
        assert result.query.results == 2

    def test_unsupported_find_is_a_transaction_error(self, backend_run: BackendRun) -> None:
        with pytest.raises(TransactionError, match="IN compares dates"):
            linkahead.execute_query("FIND Guitar WITH price IN 12")
        call = backend_run.recorder.calls[-1]
        assert call["query"] == "FIND Guitar WITH price IN 12"
        assert "IN compares dates" in call["error"]

    def test_unsupported_count_is_not_a_silent_zero(self, backend_run: BackendRun) -> None:
        with pytest.raises(HTTPServerError, match="IN compares dates"):
            linkahead.execute_query("COUNT Guitar WITH price IN 12")


def _documented_queries(part: int) -> list[str]:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "backend.md").read_text(encoding="utf-8")
    before, after = doc.split("### What is refused")
    section = before if part == 0 else after.split("\n## ")[0]
    spans = re.findall(r"`([^`]+)`", section)
    return sorted({s for s in spans if s.split()[:1] in (["FIND"], ["COUNT"], ["SELECT"])})


@pytest.mark.parametrize("text", _documented_queries(0))
def test_documented_examples_parse(text: str) -> None:
    """Every complete query the docs show as supported parses and evaluates."""
    parsed = parse_query(text)
    assert parsed.verb in ("FIND", "COUNT", "SELECT")
    evaluate(parsed, _SEEDED, me=("alice", "PAM"))


@pytest.mark.parametrize("text", _documented_queries(1))
def test_documented_refusals_are_refused(text: str) -> None:
    """Every query the docs list as refused gets an error (when parsed or evaluated)."""
    with pytest.raises(QuerySyntaxError):
        evaluate(parse_query(text), _SEEDED, me=("alice", "PAM"))


_SEEDED = EntityStore()
_SEEDED.load(DATA / "model.yml")
_SEEDED.load(DATA / "records.yml")

_WORDS = [
    "FIND", "COUNT", "SELECT", "FROM", "RECORD", "FILE", "WITH", "WHICH", "HAS", "A", "NOT",
    "AND", "OR", "REFERENCES", "IS", "REFERENCED", "BY", "LIKE", "STORED", "AT", "IN", "Guitar",
    "price", "name", "id", "3", "'x y'", '"q*"', "(", ")", ",", "=", "!=", "<=", ">", ".", "a.b",
    "*", "'", "!", "NULL", "->", "<<G.*>>", "WHERE", "DOESN'T", "HAVE", "ANY", "VERSION", "OF",
    "EUR", "WAS", "INSERTED", "UPDATED", "ME", "SINCE", "2020", "2020-05-01T10:00", "THE",
    "GREATEST", "AS", "'a\\*b'", "**",
]  # fmt: skip


@given(st.lists(st.sampled_from(_WORDS), max_size=12))
@settings(max_examples=200, deadline=None)
def test_parser_never_fails_otherwise(words: list[str]) -> None:
    """Any token soup parses and evaluates, or raises QuerySyntaxError; nothing else."""
    text = " ".join(words)
    try:
        parsed = parse_query(text)
        ids = evaluate(parsed, _SEEDED, me=("alice", "PAM"))
    except QuerySyntaxError as err:
        assert err.query == text
        return
    assert all(isinstance(i, int) for i in ids)
