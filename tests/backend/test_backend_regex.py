"""Issue 11, item 11, for ``<<regex>>``: no pattern freezes the stand-in or holds its lock.

``<<…>>`` names are matched by a linear-time automaton built from ``re``'s own parser; these
tests check it answers as ``re.search`` does, that pathological patterns finish, that
non-regular features and over-large patterns are refused with a 4xx naming the problem, that a
query past its deadline is stopped, and that other requests are served while one runs.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from backend_helpers import BACKEND_TOKEN, backend_authenticate
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from sss_emulator import decisions
from sss_emulator.backend import BackendServer, EntityStore, make_backend_app
from sss_emulator.backend.model import Entity
from sss_emulator.backend.query import regex as regex_module
from sss_emulator.backend.query.evaluate import QueryRun, QueryTooSlow, evaluate
from sss_emulator.backend.query.parser import QueryRefused, parse_query
from sss_emulator.backend.query.regex import RegexRefused, compile_name_regex

# ----------------------------------------------------------------------------- the matcher
_ATOMS = st.sampled_from(
    ["a", "b", "A", "_", " ", ".", "[ab]", "[^a]", "[a-b_]", r"\w", r"\W", r"\d", r"\s",
     r"\n", r"\b", r"\B", "^", "$", r"\A", r"\Z", "é"]
)  # fmt: skip


def _compound(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    quantifier = st.sampled_from(["*", "+", "?", "*?", "+?", "{2}", "{0,2}", "{1,3}", "{2,}"])
    return st.one_of(
        st.lists(children, min_size=2, max_size=3).map("".join),
        st.tuples(children, children).map(lambda ab: f"(?:{ab[0]}|{ab[1]})"),
        children.map(lambda a: f"({a})"),
        st.tuples(children, quantifier).map(lambda aq: f"(?:{aq[0]}){aq[1]}"),
    )


_PATTERNS = st.tuples(
    st.sampled_from(["", "(?m)", "(?s)", "(?a)", "(?-i:", "(?x)"]),
    st.recursive(_ATOMS, _compound, max_leaves=8),
).map(lambda fp: f"{fp[0]}{fp[1]})" if fp[0] == "(?-i:" else fp[0] + fp[1])


@settings(max_examples=1500, deadline=None)
@given(pattern=_PATTERNS, text=st.text(alphabet="aAb_ \n1é", max_size=10))
def test_the_matcher_agrees_with_re_search(pattern: str, text: str) -> None:
    """Same answer as ``re.search(pattern, text, re.IGNORECASE)``: anchors, ``\\b``, classes,
    case folding, counts, alternation and scoped flags mean what they mean in ``re``."""
    try:
        reference = re.compile(pattern, re.IGNORECASE)
    except re.error:
        assume(False)
        return
    expected = reference.search(text) is not None
    assert compile_name_regex(pattern).matcher().search(text) == expected


@pytest.mark.parametrize(
    ("pattern", "text", "found"),
    [
        ("^gr[aeiou]nd$", "grand", True),
        ("^GR", "grand", True),
        ("(?-i:GR)", "grand", False),
        (r"\bfoo\b", "a foo b", True),
        (r"\Bfoo", "a foo", False),
        ("a$", "xa\n", True),  # $ also before a final newline, as in re
        ("a$", "a\nb", False),
        ("(?m)a$", "a\nb", True),
        ("x{0}", "", True),
        (r"\B", "", re.search(r"\B", "") is not None),
        ("(?:){1000000000}a", "ba", True),  # an empty body repeated is nothing, not a loop
    ],
)
def test_examples(pattern: str, text: str, found: bool) -> None:
    assert compile_name_regex(pattern).matcher().search(text) is found


@pytest.mark.parametrize("tail", ["", "a" + "b" * 11 + "c", "a" + "b" * 10 + "c"])
def test_the_dfa_cache_starting_over_keeps_answers(tail: str, monkeypatch: pytest.MonkeyPatch
                                                   ) -> None:
    """A pattern whose DFA outgrows the per-query cache (2**12 states on random a/b text,
    the cache cut to 64 here) starts the cache over and still answers like re."""
    monkeypatch.setattr(regex_module, "_DFA_STATES", 64)
    pattern = "(?:a|b)*a(?:a|b){11}c"
    rng = random.Random(7)
    text = "".join(rng.choice("ab") for _ in range(5_000)) + tail
    matcher = compile_name_regex(pattern).matcher()
    resets = []
    reset = matcher._reset
    monkeypatch.setattr(matcher, "_reset", lambda: (resets.append(1), reset())[1])
    assert matcher.search(text) is (re.search(pattern, text, re.IGNORECASE) is not None)
    assert resets


@pytest.mark.parametrize(
    ("pattern", "named"),
    [
        (r"(a)\1", "backreference"),
        ("(?P<x>a)(?P=x)", "backreference"),
        ("(?=a)a", "look-ahead"),
        ("(?<!x)a", "negative look-ahead or look-behind"),
        ("(a)?(?(1)b|c)", "conditional"),
        ("(?>a+)b", "atomic group"),
        ("a*+b", "possessive quantifier"),
        ("(?:a{200}){200}", f"needs more than {decisions.REGEX_MAX_STATES} states"),
    ],
)
def test_what_is_refused_is_named(pattern: str, named: str) -> None:
    with pytest.raises(RegexRefused, match=re.escape(named)):
        compile_name_regex(pattern)
    with pytest.raises(QueryRefused, match=re.escape(named)) as info:
        parse_query(f"FIND RECORD <<{pattern}>>")
    assert info.value.status == decisions.QUERY_LIMIT_STATUS


def test_pathological_patterns_finish() -> None:
    """``(a+)+$``, ``(a|aa)*c``, ``.*a.*a.*a.*a.*b`` against 200 000 ``a`` and a ``!``: ``re`` needs
    centuries (and holds the GIL). Run in a child process, so that a regression fails by its
    (generous) timeout instead of hanging the suite."""
    code = textwrap.dedent("""
        from sss_emulator.backend import EntityStore
        from sss_emulator.backend.model import Entity
        from sss_emulator.backend.query.evaluate import evaluate
        from sss_emulator.backend.query.parser import parse_query

        store = EntityStore()
        store.insert([Entity(id=None, role="RecordType", name="a" * 200_000 + "!")])
        for pattern, hits in (("(a+)+$", 0), ("^(a+)+$", 0), ("(a|aa)*c", 0),
                              (".*a.*a.*a.*a.*b", 0), ("(x+x+)+y", 0), ("^(a|aa)*!$", 1)):
            query = f"FIND RECORDTYPE <<{pattern}>>"
            assert len(evaluate(parse_query(query), store)) == hits, pattern
        print("done")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"


# ----------------------------------------------------------------------------- over HTTP
def _client(store: EntityStore) -> Client:
    client = Client(make_backend_app(store, authenticate=backend_authenticate))
    client.set_cookie("SessionToken", BACKEND_TOKEN)
    return client


@pytest.mark.parametrize("verb", ["FIND", "COUNT"])
def test_a_refused_regex_is_a_4xx_naming_it(backend_store: EntityStore, verb: str) -> None:
    """FIND and COUNT alike: pylib raises HTTPClientError with the description, never returns
    a silently wrong count."""
    response = _client(backend_store).get(
        "/Entity", query_string={"query": f"{verb} RECORD <<(g)\\1>>"}
    )
    assert response.status_code == decisions.QUERY_LIMIT_STATUS == 400
    assert b"uses a backreference" in response.data


def test_a_query_past_its_deadline_is_a_4xx(
    backend_store: EntityStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decisions, "QUERY_TIME_LIMIT_S", -1.0)
    response = _client(backend_store).get("/Entity", query_string={"query": "COUNT Guitar"})
    assert response.status_code == 400
    assert b"ran longer than -1 s and was stopped" in response.data
    with pytest.raises(QueryTooSlow):
        evaluate(parse_query("FIND ANY VERSION OF Guitar"), backend_store)


def test_names_written_after_the_prematch_are_matched_too() -> None:
    """The regex runs on a copy of the names outside the lock; a name inserted meanwhile is
    decided under the lock, so the answer is the store's state at evaluation."""
    store = EntityStore()
    store.insert([Entity(id=None, role="RecordType", name="Grand")])
    parsed = parse_query("FIND RECORDTYPE <<^gr>>")
    run = QueryRun(parsed)
    run.prematch(store.name_keys())
    store.insert([Entity(id=None, role="RecordType", name="Grill")])
    with store.lock:
        ids = evaluate(parsed, store, run=run)
    assert sorted(store.name_of(i) or "" for i in ids) == ["Grand", "Grill"]


@pytest.fixture
def served() -> Iterator[tuple[EntityStore, str]]:
    store = EntityStore()
    store.insert([Entity(id=None, role="RecordType", name="Grand")])
    with BackendServer(make_backend_app(store, authenticate=backend_authenticate)) as srv:
        yield store, srv.url


def _get(url: str, path: str, query: str | None = None, timeout: float = 60
         ) -> tuple[int, bytes]:
    params = "?" + urllib.parse.urlencode({"query": query}) if query is not None else ""
    request = urllib.request.Request(
        url.rstrip("/") + path + params, headers={"Cookie": f"SessionToken={BACKEND_TOKEN}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_the_regex_runs_outside_the_store_lock(
    served: tuple[EntityStore, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a regex query is matching (held here inside ``prematch``), a FIND, which needs
    the store's lock, is answered: the matching holds no lock."""
    _store, url = served
    matching, other_done = threading.Event(), threading.Event()
    original = QueryRun.prematch

    def held_prematch(self: QueryRun, names: list[str]) -> None:
        matching.set()
        other_done.wait(30)
        original(self, names)

    monkeypatch.setattr(QueryRun, "prematch", held_prematch)
    answers: dict[str, tuple[int, bytes]] = {}
    slow = threading.Thread(
        target=lambda: answers.setdefault("regex", _get(url, "/Entity", "FIND RECORDTYPE <<^gr>>"))
    )
    slow.start()
    try:
        assert matching.wait(30)
        # a lock held by the matching would keep this waiting past its timeout (an error)
        answers["find"] = _get(url, "/Entity", "FIND RECORDTYPE Grand", timeout=10)
        other_done.set()
    finally:
        other_done.set()
        slow.join(60)
    assert answers["find"][0] == 200 and b'name="Grand"' in answers["find"][1]
    assert answers["regex"][0] == 200 and b'name="Grand"' in answers["regex"][1]


@pytest.mark.slow
def test_other_requests_are_answered_while_a_bad_regex_runs(
    served: tuple[EntityStore, str],
) -> None:
    """A pathological regex over 60 million characters of names takes seconds of linear work
    (it used to take centuries holding the GIL and the store lock); an Info and a FIND sent
    after it started come back before it does, and it ends with an answer or a 400."""
    store, url = served
    store.insert(
        [Entity(id=None, role="RecordType", name="a" * 400_000 + str(i)) for i in range(150)]
    )
    done: dict[str, float] = {}
    answers: dict[str, tuple[int, bytes]] = {}

    def bad() -> None:
        answers["bad"] = _get(url, "/Entity", "COUNT RECORDTYPE <<(a|aa)*c>>")
        done["bad"] = time.monotonic()

    thread = threading.Thread(target=bad)
    thread.start()
    try:
        time.sleep(0.3)
        answers["info"] = _get(url, "/Info")
        answers["find"] = _get(url, "/Entity", "FIND RECORDTYPE Grand")
        done["others"] = time.monotonic()
    finally:
        thread.join(120)
    assert not thread.is_alive()
    assert answers["info"][0] == 200 and answers["find"][0] == 200
    assert b'name="Grand"' in answers["find"][1]
    assert done["others"] < done["bad"]
    status, body = answers["bad"]
    assert (status, b'results="0"' in body) == (200, True) or (
        status == 400 and b"ran longer than" in body
    )


@pytest.mark.parametrize("query", ["FIND RECORD <<a{0,4294967295}>>",
                                   "COUNT RECORD WHICH REFERENCES <<x{99999999999}>>"])
def test_a_count_too_large_for_re_is_a_query_error(backend_store: EntityStore,
                                                  query: str) -> None:
    """``re``'s parser raises OverflowError (not re.error) for such counts: once a 500, now the
    malformed-query error every other bad pattern gets."""
    response = _client(backend_store).get("/Entity", query_string={"query": query})
    assert response.status_code != 500, response.data[:300]  # a handled answer, no crash
    assert b"is invalid: the repetition number is too large" in response.data
