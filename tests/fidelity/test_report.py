"""Reading answers and reporting differences: pure functions over plain data."""

from __future__ import annotations

import dataclasses

from sss_emulator.core.render import ResponseMeta, render_error_xml, render_response_xml
from sss_emulator.core.tokens import Identity
from sss_emulator.fidelity.normalise import Normaliser
from sss_emulator.fidelity.observed import Observed, UserInfo, parse_response
from sss_emulator.fidelity.report import REPORT_SCHEMA, compare_observed, side_by_side

ADMIN = Identity("admin", "PAM", ("administration",))
PLAIN = (Normaliser(), Normaliser())


def _ran(stdout: str = "out\n", **changes: object) -> Observed:
    body = render_response_xml(code=0, call="a.sh x", stdout=stdout, stderr="",
                               meta=ResponseMeta(identity=ADMIN))
    return dataclasses.replace(parse_response(200, body), **changes)  # type: ignore[arg-type]


def test_an_answer_is_read_as_pylib_reads_it() -> None:
    """code, call, stdout, stderr ("" when empty), UserInfo, srid and the shape."""
    observed = _ran("hello\n")
    assert (observed.status, observed.code, observed.call, observed.stdout, observed.stderr) \
        == (200, 0, "a.sh x", "hello\n", "")
    assert observed.user == UserInfo("admin", "PAM", ("administration",))
    assert observed.shape == (
        "Response[@baseuri @srid @timestamp]", "Response/UserInfo[@realm @username]",
        "Response/UserInfo/Roles", "Response/UserInfo/Roles/Role", "Response/script[@code]",
        "Response/script/call", "Response/script/stdout", "Response/script/stderr")


def test_a_refusal_and_a_stylesheet_and_garbage() -> None:
    """An <Error> gives error text and code; a processing instruction is part of the shape;
    an HTML page is a difference to show, not an exception."""
    refusal = parse_response(403, render_error_xml(403, "no", ResponseMeta()))
    assert (refusal.code, refusal.stdout, refusal.error, refusal.error_code) == (
        None, None, "no", "403")
    styled = parse_response(200, b'<?xml version="1.0"?><?xml-stylesheet href="x"?>'
                                 b'<Response><script code="3"/></Response>')
    assert styled.shape == ("?xml-stylesheet", "Response", "Response/script[@code]")
    assert styled.code == 3 and styled.stdout == ""
    html = parse_response(502, b"<html><body>Bad gateway")
    assert html.shape == ("<not XML>",) and "not an XML response" in (html.error or "")


def test_equal_observations_make_an_equal_report() -> None:
    report = compare_observed(_ran(), _ran(), PLAIN, title="t")
    assert report.equal and report.differences == []
    assert report.to_text().endswith("no difference.")
    document = report.to_dict()
    assert document["schema"] == REPORT_SCHEMA and document["equal"] is True
    assert {a["name"] for a in document["aspects"]} == {
        "status", "code", "call", "stdout", "stderr", "error", "response_shape"}


def test_each_difference_is_named_and_diffed() -> None:
    report = compare_observed(_ran("a\nb\n"), _ran("a\nc\n", code=2), PLAIN, title="t")
    assert report.differences == ["code", "stdout"]
    stdout = next(a for a in report.to_dict()["aspects"] if a["name"] == "stdout")
    assert stdout["diff"][2:] == ["@@ -1,2 +1,2 @@", " a", "-b", "+c"]
    text = report.to_text()
    assert "exit code       DIFFERS   server: 0" in text and "local: 2" in text
    assert text.endswith("2 differences: exit code, stdout.")


def test_side_by_side_marks_changes_additions_and_removals() -> None:
    rows = side_by_side("same\nold\ngone\n", "same\nnew\n", ("server", "local"), width=60)
    marks = {row.split()[0] if row.split() else "": row for row in rows[1:]}
    assert " | " in marks["old"] and marks["old"].rstrip().endswith("new")
    assert marks["gone"].rstrip().endswith("<")


def test_invisible_differences_are_made_visible() -> None:
    """Trailing blanks show as '·'; a difference only in line endings shows escapes."""
    rows = side_by_side("x  \n", "x\n", ("a", "b"), width=40)
    assert any("x··" in row for row in rows)
    rows = side_by_side("x\r\n", "x\n", ("a", "b"), width=40)
    assert any("\\r\\n" in row for row in rows)


def test_long_lines_wrap_instead_of_being_cut() -> None:
    rows = side_by_side("x" * 100 + "END\n", "y\n", ("a", "b"), width=60)
    assert "END" in "".join(rows)


def test_shared_files_compare_names_and_bytes() -> None:
    """Text contents are normalised and diffed; binary files by size and hash."""
    left = _ran(shared={"a.txt": b"1\n", "b.bin": b"\x00\x01"}, shared_complete=True)
    right = _ran(shared={"a.txt": b"2\n", "b.bin": b"\x00\x01"}, shared_complete=True)
    aspect = next(a for a in compare_observed(left, right, PLAIN, title="t").aspects
                  if a.name == "shared_files")
    assert not aspect.equal
    assert aspect.left == ("== a.txt\n1\n== b.bin (binary, 2 bytes, sha256 "
                           "b413f47d13ee2fe6…)")
    only = compare_observed(left, _ran(shared={}, shared_complete=True), PLAIN, title="t")
    assert "only on one side: a.txt, b.bin" in only.to_text()


def test_a_side_that_only_knows_linked_files_is_compared_like_with_like() -> None:
    """A real server shows only files its output links to; the local run's other files are
    noted, not counted."""
    link = "<a href='/Shared/r/report.txt'>r</a>\n"
    server = _ran(link, shared={"report.txt": b"r\n"}, shared_complete=False)
    local = _ran(link, shared={"report.txt": b"r\n", "log.txt": b"l\n"}, shared_complete=True)
    report = compare_observed(server, local, PLAIN, title="t")
    assert report.equal
    assert report.notes == ("local also left log.txt in SHARED_DIR (not compared: server only "
                            "shows linked files)",)


def test_unknown_aspects_are_skipped_and_listed() -> None:
    recorded = Observed(status=200, code=0, call="a.sh x", stdout="out\n", stderr="",
                        unknown=frozenset({"response_shape", "shared_files"}))
    report = compare_observed(recorded, _ran(shared={}), PLAIN, title="t",
                              labels=("recorded", "local"))
    assert report.equal
    assert report.skipped == {"shared_files": "recorded did not record it",
                              "response_shape": "recorded did not record it"}
    assert "response shape  not compared: recorded did not record it" in report.to_text()
