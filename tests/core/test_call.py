"""Form fields → CallRequest → argv and call string (contract §1–2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sss_emulator.core.call import (
    CallRequest,
    Upload,
    build_argv,
    call_string,
    check_upload_name,
    ignored_field_note,
    request_from_form,
    request_from_pylib,
)
from sss_emulator.errors import BadRequestForm


def test_seed_example_call_string() -> None:
    """The seed's deep-dive call: empty option kept as --name=, positionals after options."""
    request = request_from_form([("call", "minimal.bash"), ("-Ooption1", ""),
                                 ("-Ooption2", "some-value"), ("-p0", "Positional0"),
                                 ("-p1", "Positional1")])
    assert call_string(request) == (
        "minimal.bash --option1= --option2=some-value Positional0 Positional1")


def test_argv_puts_token_first_and_keeps_it_out_of_the_call() -> None:
    """argv[1] is the token; the call string never contains it."""
    request = request_from_form([("-p0", "x"), ("call", "a/b.py"), ("-Oname", "v")])
    argv = build_argv(Path("/bin/a/b.py"), '["S","PAM"]', request)
    assert argv == ["/bin/a/b.py", '--auth-token=["S","PAM"]', "--name=v", "x"]
    assert "auth-token" not in call_string(request)


def test_no_token_means_no_token_argument() -> None:
    """An anonymous call without purpose entry gets no --auth-token at all."""
    request = CallRequest("a.py", positionals=("x",))
    assert build_argv(Path("/b/a.py"), None, request) == ["/b/a.py", "x"]


def test_positionals_are_ordered_by_index_not_arrival() -> None:
    """-p1 before -p0 in the body still gives p0 first."""
    request = request_from_form([("call", "a"), ("-p1", "second"), ("-p0", "first")])
    assert request.positionals == ("first", "second")


def test_positional_gap_is_refused_naming_the_missing_index() -> None:
    """-p0 and -p2 without -p1 is a clear 400 (a U decision)."""
    with pytest.raises(BadRequestForm, match="-p1 is missing"):
        request_from_form([("call", "a"), ("-p0", "x"), ("-p2", "z")])


def test_repeated_options_each_become_an_argument_in_order() -> None:
    """Duplicate -O<name> fields are all passed, in request order (a U decision)."""
    request = request_from_form([("call", "a"), ("-Ox", "1"), ("-Oy", "2"), ("-Ox", "3")])
    assert request.user_arguments() == ["--x=1", "--y=2", "--x=3"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ([("-p0", "x")], "no 'call'"),
        ([("call", "")], "no 'call'"),
        ([("call", "a"), ("call", "b")], "twice"),
        ([("call", "a"), ("-O", "v")], "no option name"),
        ([("call", "a"), ("-px", "v")], "not a positional"),
        ([("call", "a"), ("-p0", "v"), ("-p0", "w")], "sent twice"),
    ],
)
def test_malformed_forms_are_refused(fields: list[tuple[str, str]], message: str) -> None:
    """Every malformed form raises BadRequestForm with a message naming the problem."""
    with pytest.raises(BadRequestForm, match=message):
        request_from_form(fields)


def test_unknown_fields_are_ignored_but_remembered() -> None:
    """Other form fields do not reach the script (U: ignored)."""
    request = request_from_form([("call", "a"), ("submit", "Go")])
    assert request.user_arguments() == []
    assert request.extra_fields == ("submit",)
    assert request.ignored_fields == ("submit",)


def test_file_parts_without_argument_are_stored_not_ignored(tmp_path: Path) -> None:
    """A file part named after a form field lands in .upload_files: extra, but not ignored."""
    upload = Upload("table.csv", tmp_path / "table.csv")
    request = request_from_form([("call", "a"), ("--title", "x")], [("csvfile", upload)])
    assert request.extra_fields == ("--title", "csvfile")
    assert request.ignored_fields == ("--title",)
    assert request.uploads == (upload,)


@pytest.mark.parametrize(
    ("name", "hint"),
    [("--option2", "-Ooption2"), ("-title", "-Otitle"), ("p0", "-p0"), ("Ofile", "-Ofile"),
     ("submit", None), ("-", None)],
)
def test_ignored_field_note_names_the_field_and_the_likely_intent(name: str,
                                                                   hint: str | None) -> None:
    note = ignored_field_note(name)
    assert note.startswith(f"form field {name!r} was ignored")
    assert (f"did you mean {hint}?" in note) if hint else "did you mean" not in note


def test_upload_fills_its_argument_with_the_relative_path(tmp_path: Path) -> None:
    """An upload in -Ofile becomes --file=.upload_files/<name>."""
    upload = Upload("test_file.txt", tmp_path / "test_file.txt")
    request = request_from_form([("call", "s.py"), ("-p0", "pos0")], [("-Ofile", upload)])
    assert request.user_arguments() == ["--file=.upload_files/test_file.txt", "pos0"]
    assert request.uploads == (upload,)


@pytest.mark.parametrize("name", ["", "../x", "a/b", "..", ".", "a\\b", "x\x00y"])
def test_unsafe_upload_names_are_refused(name: str) -> None:
    """Names that could leave .upload_files are a 400, never written."""
    with pytest.raises(BadRequestForm):
        check_upload_name(name)


def test_two_uploads_with_one_name_are_refused(tmp_path: Path) -> None:
    """Two files named alike would overwrite each other: refused."""
    a, b = Upload("d.json", tmp_path / "a"), Upload("d.json", tmp_path / "b")
    with pytest.raises(BadRequestForm, match="Two uploads"):
        request_from_form([("call", "s")], [("-p0", a), ("-p1", b)])


def test_pylib_shape_matches_the_seed_example(tmp_path: Path) -> None:
    """run_server_side_script's example in the seed gives the documented call."""
    request = request_from_pylib("my_script.py", ("pos0", "pos1"),
                                 {"-Ofile": tmp_path / "sub" / "test_file.txt"},
                                 {"option1": "val1", "option2": "val2"})
    assert call_string(request) == ("my_script.py --option1=val1 --option2=val2 "
                                    "--file=.upload_files/test_file.txt pos0 pos1")


def test_pylib_sends_str_of_values() -> None:
    """True arrives as 'True' and 1.5 as '1.5', as pylib's str(value)."""
    request = request_from_pylib("a", (1.5,), None, {"flag": True})
    assert request.user_arguments() == ["--flag=True", "1.5"]


def test_file_part_without_argument_is_stored_not_passed(tmp_path: Path) -> None:
    """A file in a field like 'csvfile' lands in .upload_files but adds no argument."""
    csv = Upload("table.csv", tmp_path / "table.csv")
    form = Upload("form.json", tmp_path / "form.json")
    request = request_from_form([("call", "h.py")], [("-p0", form), ("csvfile", csv)])
    assert request.user_arguments() == [".upload_files/form.json"]
    assert request.uploads == (form, csv)
