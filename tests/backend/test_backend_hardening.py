"""Issue 11, item 11: LIKE matches in linear time, so no query freezes the stand-in."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

from hypothesis import given, settings
from hypothesis import strategies as st

from sss_emulator.backend.query.evaluate import GlobMatcher


def _reference_regex(glob: str, *, path: bool = False) -> re.Pattern[str]:
    """The regex translation the matcher replaced (same meaning, but backtracking)."""
    out: list[str] = []
    i = 0
    while i < len(glob):
        char = glob[i]
        if char == "\\" and i + 1 < len(glob):
            out.append(re.escape(glob[i + 1]))
            i += 2
            continue
        if char == "*":
            if path and glob.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*" if path else ".*")
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


@settings(max_examples=600, deadline=None)
@given(pattern=st.text(alphabet="abAB*./\\\n", max_size=12),
       text=st.text(alphabet="abAB./*\\\n", max_size=16), path=st.booleans())
def test_the_matcher_agrees_with_the_wildcard_regex(pattern: str, text: str, path: bool) -> None:
    """Same answers as the regex translation (``*``, ``**`` in paths, ``\\*``), which it
    replaces."""
    expected = _reference_regex(pattern, path=path).fullmatch(text) is not None
    assert GlobMatcher(pattern, path=path).fullmatch(text) == expected


def test_a_backtracking_pattern_against_a_long_name_finishes() -> None:
    """``*a*a*a*a*b`` against 20 000 ``a``: the regex took minutes holding the store lock.

    Run in a child process so that a regression fails by its (generous) timeout instead of
    hanging the suite.
    """
    code = textwrap.dedent("""
        from sss_emulator.backend import EntityStore
        from sss_emulator.backend.entity_xml import parse_entities
        from sss_emulator.backend.query.evaluate import evaluate
        from sss_emulator.backend.query.parser import parse_query

        store = EntityStore()
        name = "a" * 20000
        drafts = parse_entities(f'<Insert><RecordType name="{name}"/></Insert>'.encode(),
                                expect=("Insert",))
        store.insert(drafts)
        for pattern, hits in (("*a*a*a*a*b", 0), ("*a*a*a*a*", 1)):
            query = f'FIND RECORDTYPE WITH name LIKE "{pattern}"'
            assert len(evaluate(parse_query(query), store)) == hits, pattern
        print("done")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
