"""``sss-emulate replay``: call strings from logs, and recorded call files against their answer;
plus the call-file keys recording added (``expect.call``, ``expect.normalise``, null
positionals), in the pytest plugin."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from sss_emulator.cli.commands import main
from sss_emulator.errors import BadRequestForm
from sss_emulator.fidelity.replay import ParsedCall, call_to_script_args, parse_call


@pytest.mark.parametrize(("text", "call", "options", "positionals"), [
    ("minimal.bash --option2=x Positional0", "minimal.bash", [("option2", "x")],
     ["Positional0"]),
    ("minimal.bash --option1= --option2=some-value Positional0 Positional1", "minimal.bash",
     [("option1", ""), ("option2", "some-value")], ["Positional0", "Positional1"]),
    ("administration/diagnostics.py", "administration/diagnostics.py", [], []),
    ("a.py pos --looks=like-an-option", "a.py", [], ["pos", "--looks=like-an-option"]),
    ("a.py '--title=My report' 'two words'", "a.py", [("title", "My report")], ["two words"]),
    ("a.py --a=1=2 --flag x", "a.py", [("a", "1=2")], ["--flag", "x"]),
])
def test_parse_call(text: str, call: str, options: list[tuple[str, str]],
                    positionals: list[str]) -> None:
    """The call, then --name=value options, then positionals; quotes group words."""
    parsed = parse_call(text)
    assert (parsed.call, list(parsed.options), list(parsed.positionals)) == (
        call, options, positionals)


def test_a_token_in_the_call_is_dropped_with_a_note() -> None:
    parsed = parse_call("a.sh --auth-token=[\"S\"] --x=1")
    assert parsed.options == (("x", "1"),) and parsed.notes


@pytest.mark.parametrize("text", ["", "   ", "a.py 'unclosed"])
def test_unusable_call_strings(text: str) -> None:
    with pytest.raises(BadRequestForm):
        parse_call(text)


def test_call_to_script_args_maps_uploads_and_escapes_at(tmp_path: Path) -> None:
    data = tmp_path / "data.json"
    data.write_text("{}")
    parsed = ParsedCall("p.sh", (("file", ".upload_files/data.json"),), ("@home", "x"))
    assert call_to_script_args(parsed, [data]) == (f"-Ofile=@{data}", "-p0", "@@home", "-p1",
                                                   "x")
    with pytest.raises(BadRequestForm, match="--upload PATH"):
        call_to_script_args(parsed, [])


@pytest.fixture
def replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    monkeypatch.chdir(tmp_path)
    env = {"SSS_WORK_ROOT": str(tmp_path / "work"), "SSS_SHARED_ROOT": str(tmp_path / "shared")}
    for name in ("SSS_BIN_DIRS", "SSS_PROFILE", "SSS_HOME", "SSS_FORMAT", "SSS_USERS"):
        monkeypatch.delenv(name, raising=False)

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, ["replay", *args], env=env, catch_exceptions=False)

    return invoke


def test_replay_call_runs_it_as_run_would(replay, samples: Path, examples: Path) -> None:
    """The script gets the same arguments; uploads come from --upload; exit is the script's."""
    result = replay("--bin-dir", str(samples), "--call",
                    "minimal.bash --option1= --option2=some-value Positional0")
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith("--option1= --option2=some-value Positional0")
    data = examples / "data" / "data.json"
    uploaded = replay("--bin-dir", str(samples), "--call",
                      "print_file.bash .upload_files/data.json", "--upload", str(data),
                      "--format", "json")
    document = json.loads(uploaded.stdout)
    assert document["call"] == "print_file.bash .upload_files/data.json"
    assert document["stdout"] == data.read_text()


@pytest.mark.parametrize("args", [(), ("x.yaml", "--call", "a.sh"),
                                  ("--call", "print_file.bash .upload_files/missing.json")])
def test_replay_usage_errors(replay, samples: Path, args: tuple[str, ...]) -> None:
    result = replay("--bin-dir", str(samples), *args)
    assert result.exit_code == 125
    assert len(result.stderr.strip().splitlines()) == 1


CALL_FILE = """
bin_dirs: [{bin}]
tests:
  - name: minimal
    call: minimal.bash
    options: {{option2: x}}
    positionals: [Positional0]
    expect:
      normalise: true
      code: 0
      call: minimal.bash --option2=x Positional0
      stdout_exact: |
        <BIN_DIR>/minimal.bash --auth-token=<TOKEN> --option2=x Positional0
      stderr_exact: ''
  - name: wrong
    call: minimal.bash
    expect:
      normalise: true
      code: 0
      stdout_exact: |
        something else
  - name: refused
    call: administration/diagnostics.py
    user: bob
    roles: [guest]
    expect: {{error: PermissionDenied}}
"""


def _call_file(tmp_path: Path, samples: Path) -> Path:
    path = tmp_path / "sss_calls.yaml"
    path.write_text(CALL_FILE.format(bin=samples))
    return path


def test_replay_file_compares_each_case(replay, tmp_path: Path, samples: Path) -> None:
    """Equal cases say so; a differing one makes the exit 1 and shows its diff."""
    path = _call_file(tmp_path, samples)
    result = replay(str(path), "--format", "json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["schema"] == "sss-emulator/replay/v1"
    assert [r["equal"] for r in document["reports"]] == [True, False, True]
    assert document["reports"][1]["differences"] == ["stdout"]
    refused = document["reports"][2]
    status = next(a for a in refused["aspects"] if a["name"] == "status")
    assert status["left"] == status["right"] == "403"
    only = replay(str(path), "--case", "minimal")
    assert only.exit_code == 0 and only.stdout.rstrip().endswith("no difference.")


def test_replay_file_errors_are_one_line(replay, tmp_path: Path, samples: Path) -> None:
    path = _call_file(tmp_path, samples)
    unknown_case = replay(str(path), "--case", "nope")
    assert unknown_case.exit_code == 125 and "no case 'nope'" in unknown_case.stderr
    broken = tmp_path / "sss_broken.yaml"
    broken.write_text("call: [\n")
    result = replay(str(broken))
    assert result.exit_code == 125 and "not valid YAML" in result.stderr
    no_bin = tmp_path / "sss_nobin.yaml"
    no_bin.write_text("call: minimal.bash\n")
    result = replay(str(no_bin))
    assert result.exit_code == 125 and "no bin dir" in result.stderr
    assert replay(str(path), "--format", "xml").exit_code == 125


# --- the plugin runs what record writes -------------------------------------------------------


PLUGIN_FILE = """
bin_dirs: [bin]
tests:
  - name: upload in -p0, text in -p1
    call: two.sh
    positionals: [null, second]
    uploads: {"-p0": data/in.txt}
    expect:
      normalise: rules.txt
      code: 0
      call: two.sh .upload_files/in.txt second
      stdout_exact: |
        <BIN_DIR>/two.sh --auth-token=<TOKEN> .upload_files/in.txt second
        <MY_HOME>
      shared_files: {"f.txt": "at <TIMESTAMP>\\n"}
  - name: wrong call
    call: two.sh
    positionals: [a, b]
    expect: {call: two.sh b a}
"""

TWO_SH = """#!/bin/bash
echo "$0" "$@"
echo "$HOME"
echo "at $(date -Iseconds)" > "$SHARED_DIR/f.txt"
"""


def test_the_plugin_runs_recorded_expectations(pytester: pytest.Pytester,
                                              write_bin: Callable[..., Path]) -> None:
    """null positionals leave their index to an upload; normalise applies built-in rules
    and the file's own; expect.call is checked."""
    write_bin(**{"two.sh": TWO_SH})
    (pytester.path / "data").mkdir()
    (pytester.path / "data" / "in.txt").write_text("input\n")
    (pytester.path / "rules.txt").write_text("(?m)^<WORKDIR>$ => <MY_HOME>\n")
    pytester.makefile(".yaml", sss_recorded=PLUGIN_FILE)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*call: expected 'two.sh b a', got 'two.sh a b'"])


@pytest.mark.parametrize(("expect", "message"), [
    ("{normalise: 3}", "expect.normalise must be true, false or the path of a rule file"),
    ("{normalise: missing.txt}", "Cannot read the rule file"),
    ("{call: [x]}", "expect.call must be the response's call text"),
])
def test_bad_recorded_keys_are_collection_errors(pytester: pytest.Pytester, expect: str,
                                                 message: str) -> None:
    pytester.makefile(".yaml", sss_bad=f"call: a.sh\nexpect: {expect}\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*{message}*"])


@pytest.fixture
def write_bin(pytester: pytest.Pytester) -> Callable[..., Path]:
    def write(**scripts: Any) -> Path:
        folder = pytester.path / "bin"
        folder.mkdir(exist_ok=True)
        for name, body in scripts.items():
            (folder / name).write_text(body)
            (folder / name).chmod(0o755)
        return folder

    return write
