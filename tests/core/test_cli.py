"""``sss-emulate`` from the outside: exit codes, streams, formats, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from sss_emulator.cli.commands import main
from sss_emulator.core import processes


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, roots: dict[str, Path]):
    """Invoke the CLI in-process from an empty folder, with private roots."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("SSS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SSS_WORK_ROOT", str(roots["work_root"]))
    monkeypatch.setenv("SSS_SHARED_ROOT", str(roots["shared_root"]))
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_runs_a_sample_by_path_streaming_stdout_and_summary_on_stderr(cli, samples: Path) -> None:
    """Script stdout on stdout; our summary on stderr; exit 0."""
    result = cli(str(samples / "minimal.bash"), "-p0", "Positional0", "-Ooption1=",
                 "-Ooption2=some-value")
    assert result.exit_code == 0
    assert result.stdout.rstrip().endswith("--option1= --option2=some-value Positional0")
    assert "sss-emulate: exit 0" in result.stderr
    assert "sss-emulate" not in result.stdout


def test_exit_code_is_the_scripts(cli, make_script) -> None:
    """A failing script makes the CLI fail with the same code."""
    script = make_script("three.sh", "#!/bin/sh\necho oops >&2\nexit 3\n")
    result = cli(str(script))
    assert result.exit_code == 3
    assert "oops" in result.stderr


def test_upload_with_at_and_json_document(cli, samples: Path, examples: Path) -> None:
    """-p0 @file uploads it; --format json prints one parseable document."""
    result = cli(str(samples / "print_file.bash"), "-p0", f"@{examples / 'data' / 'data.json'}",
                 "--format", "json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["schema"] == "sss-emulator/run/v1"
    assert doc["call"] == "print_file.bash .upload_files/data.json"
    assert json.loads(doc["stdout"]) == {"my_key": "my value"}
    assert doc["argv"][1] == "--auth-token=<redacted>"
    assert doc["error"] is None and doc["timed_out"] is False


def test_at_at_passes_a_literal(cli, samples: Path) -> None:
    """@@text is the literal @text, not an upload."""
    result = cli(str(samples / "minimal.bash"), "-p0", "@@handle", "--format", "json")
    assert json.loads(result.stdout)["call"] == "minimal.bash @handle"


def test_xml_format_is_the_servers_document(cli, samples: Path) -> None:
    """--format xml prints exactly what pylib parses."""
    result = cli(str(samples / "minimal.bash"), "-p0", "x", "--format", "xml")
    xml = etree.fromstring(result.stdout_bytes)
    assert xml.xpath("/Response/script/call")[0].text == "minimal.bash x"
    assert xml.xpath("/Response/script/@code") == ["0"]


def test_profile_and_call_relative_to_bin_dir(cli, examples: Path) -> None:
    """--profile reads the example profile; the call is relative to its bin dir."""
    result = cli("--profile", str(examples / "profile"), "administration/diagnostics.py",
                 "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    report = json.loads(doc["stdout"])
    assert report["working_dir"] == [".pylinkahead.ini"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["minimal.bash", "-p0", "a", "-p2", "c"], "-p1 is missing"),
        (["minimal.bash", "-O=x"], "has no name"),
        (["minimal.bash", "-p0"], "needs a value"),
        (["minimal.bash", "stray"], "Unexpected argument"),
        (["minimal.bash", "-p0", "@missing.json"], "not a readable file"),
        (["nope.sh"], "not found"),
        (["../minimal.bash"], "not found"),
        (["/etc/passwd"], "outside the configured bin dirs"),
        (["minimal.bash", "--format", "yaml"], "format 'yaml' is not one of text, json, xml"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, samples: Path, args: list[str],
                                          message: str) -> None:
    """Each mistake: exit 125, one 'sss-emulate: error:' line naming it, no traceback."""
    result = cli("--bin-dir", str(samples), *args)
    assert result.exit_code == 125, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sss-emulate: error:")
    assert message in lines[0]
    assert "Traceback" not in result.output


def test_refused_call_still_prints_one_json_document(cli, samples: Path) -> None:
    """--format json on a refusal: one document with error set and code null."""
    result = cli("--bin-dir", str(samples), "nope.sh", "--format", "json")
    doc = json.loads(result.stdout)
    assert doc["code"] is None
    assert doc["error"]["type"] == "ScriptNotFound" and doc["error"]["http_status"] == 404


def test_forbidden_call_exits_2_with_403_document(cli, samples: Path, examples: Path) -> None:
    """--user alice (role team) may not run diagnostics: the server's 403, as XML."""
    result = cli("--bin-dir", str(samples), "--users", str(examples / "users.yaml"),
                 "--user", "alice", "administration/diagnostics.py", "--format", "xml")
    assert result.exit_code == 125
    xml = etree.fromstring(result.stdout_bytes)
    assert xml.xpath("/Response/Error/@code") == ["403"]


def test_timeout_exits_124(cli, make_script) -> None:
    """A hanging script is killed and the CLI exits 124 with a JSON error."""
    script = make_script("hang.sh", "#!/bin/sh\necho begun\nsleep 60\n")
    result = cli(str(script), "--timeout", "0.5", "--format", "json")
    assert result.exit_code == 124
    doc = json.loads(result.stdout)
    assert doc["timed_out"] is True and doc["code"] is None and doc["stdout"] == "begun\n"
    assert doc["error"]["type"] == "ScriptTimeout"


def test_keep_prints_where_the_directory_is(cli, samples: Path) -> None:
    """--keep leaves the workdir and names it on stderr."""
    result = cli(str(samples / "minimal.bash"), "--keep")
    line = next(x for x in result.stderr.splitlines() if "kept working directory" in x)
    assert Path(line.rsplit(" ", 1)[1]).is_dir()


def test_env_and_pyproject_defaults_with_reported_override(cli, tmp_path: Path, samples: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """[tool.sss-emulator] bin-dirs works; an overridden SSS_TIMEOUT is reported."""
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.sss-emulator]\nbin-dirs = ["{samples}"]\nformat = "json"\n')
    monkeypatch.setenv("SSS_TIMEOUT", "30")
    result = cli("minimal.bash", "--timeout", "20")
    assert json.loads(result.stdout)["call"] == "minimal.bash"
    assert "SSS_TIMEOUT ignored: --timeout takes precedence" in result.stderr


@pytest.mark.parametrize(
    "args",
    [["--tmeout", "5", "minimal.bash"], ["minimal.bash", "--tmeout", "5"],
     ["--tmeout=5", "minimal.bash"], ["minimal.bash", "-p0", "x", "--tmeout=5"],
     ["watch", "--tmeout", "5", "minimal.bash"]],
)
def test_mistyped_option_is_named_with_the_likely_one(cli, samples: Path,
                                                      args: list[str]) -> None:
    """A mistyped option of ours is not taken for the script or a script argument."""
    result = cli("--bin-dir", str(samples), *args) if args[0] != "watch" else cli(
        "watch", "--bin-dir", str(samples), *args[1:])
    assert result.exit_code == 125, result.output
    assert "no such option --tmeout (did you mean --timeout?)" in result.stderr
    assert "not found" not in result.stderr


def test_option_like_values_of_script_arguments_are_the_scripts(cli, samples: Path) -> None:
    """After -p0 or -Oname comes a value, whatever it looks like; a lone -x is no option."""
    result = cli("--bin-dir", str(samples), "minimal.bash", "-p0", "--tmeout", "-Oflag", "-x")
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith("--flag=-x --tmeout")
    other = cli("--bin-dir", str(samples), "-x", "minimal.bash")
    assert other.exit_code == 125
    assert "no such option -x; script arguments are -p0 VALUE or -Oname=VALUE" in other.stderr


@pytest.mark.parametrize(("args", "tail"), [
    (["-Ochannel=1"], "--channel=1"),  # click once read -O -c -h...: help instead of a run
    (["-Ohelp", "x", "-p0", "-h"], "--help=x -h"),
    (["-p0", "--keep", "-p1", "--format=json"], "--keep --format=json"),
])
def test_script_words_that_look_like_our_options_go_to_the_script(cli, samples: Path,
                                                                  args: list[str],
                                                                  tail: str) -> None:
    """Whatever letters an -O name has, and whatever a value looks like, the script gets it."""
    for extra in ([], ["--timeout", "30"]):  # with an option of ours too (click's whole parse)
        result = cli("--bin-dir", str(samples), *extra, "minimal.bash", *args)
        assert result.exit_code == 0, result.output
        assert result.stdout.rstrip().endswith(tail), result.stdout


def test_a_value_of_our_options_is_never_taken_for_a_script_word(cli, samples: Path) -> None:
    """``--user -p0`` names a user ``-p0`` (the word must reach the option as typed), and
    ``-p0 --debug-wait`` gives the script ``--debug-wait`` on click's path too."""
    refused = cli("--bin-dir", str(samples), "minimal.bash", "--user", "-p0")
    assert refused.exit_code == 125
    assert "User '-p0'" in refused.stderr and "\x00" not in refused.stderr
    passed = cli("--bin-dir", str(samples), "--keep", "minimal.bash", "-p0", "--debug-wait")
    assert passed.exit_code == 0, passed.output
    assert passed.stdout.rstrip().endswith(" --debug-wait"), passed.stdout


def test_an_option_of_ours_after_the_double_dash_is_explained(cli, samples: Path) -> None:
    """Once: "no such option --keep (did you mean --keep?)"."""
    result = cli("--bin-dir", str(samples), "minimal.bash", "--", "--keep")
    assert result.exit_code == 125
    assert ("--keep after -- is not an option of sss-emulate; script arguments are -p0 VALUE "
            "or -Oname=VALUE") in result.stderr


def test_unknown_user_and_unknown_users_file_keys_are_named(cli, tmp_path: Path,
                                                            samples: Path,
                                                            examples: Path) -> None:
    """--user alce: "unknown user" with the known ones, not a permission error; a typo in a
    users file (role: for roles:) is refused rather than leaving the user without roles."""
    users = str(examples / "users.yaml")
    result = cli("--bin-dir", str(samples), "--users", users, "--user", "alce", "minimal.bash")
    assert result.exit_code == 125
    assert result.stderr.strip().splitlines() == [
        "sss-emulate: error: unknown user 'alce' (did you mean 'alice'?): the users file lists "
        "admin, alice, bob; use one of them, or give --role to run as a user it does not list"]
    chosen = cli("--bin-dir", str(samples), "--users", users, "--user", "zed", "--role", "team",
                 "minimal.bash")
    assert chosen.exit_code == 0, chosen.output
    (tmp_path / "typo.yaml").write_text("users:\n  alice: {password: x, role: [team]}\n")
    typo = cli("--bin-dir", str(samples), "--users", "typo.yaml", "--user", "alice",
               "minimal.bash")
    assert typo.exit_code == 125
    assert typo.stderr.strip().splitlines() == [
        f"sss-emulate: error: {tmp_path / 'typo.yaml'}: user 'alice': unknown key 'role' "
        "(did you mean 'roles'?); the keys are password, roles, realm, email"]


def test_settings_messages_name_where_the_value_came_from(cli, samples: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """--bin-dir (not --bin-dirs) and SSS_FORMAT are named as the user spelled them."""
    missing = cli("--bin-dir", "nodir", "minimal.bash")
    assert missing.exit_code == 125
    assert "--bin-dir: bin dir" in missing.stderr and "--bin-dirs" not in missing.stderr
    monkeypatch.setenv("SSS_FORMAT", "jsn")
    wrong = cli("--bin-dir", str(samples), "minimal.bash")
    assert wrong.exit_code == 125
    assert wrong.stderr.strip().splitlines() == [
        "sss-emulate: error: SSS_FORMAT: format 'jsn' is not one of text, json, xml"]


def test_list_without_a_bin_dir_is_a_usage_error(cli) -> None:
    """Exit 2 and one 'sss-emulate: error:' line, like every other bad command line."""
    result = cli("list")
    assert result.exit_code == 125
    assert result.stderr.strip().splitlines() == [
        "sss-emulate: error: No bin dir configured; pass --bin-dir or --profile (or set "
        "SSS_BIN_DIRS)."]


def test_list_shows_calls_and_permissions(cli, samples: Path) -> None:
    """list prints each call with the permission it needs."""
    result = cli("list", "--bin-dir", str(samples))
    assert result.exit_code == 0
    assert "administration/diagnostics.py" in result.stdout
    assert "SCRIPTING:EXECUTE:administration:diagnostics.py" in result.stdout


def test_doctor_passes_a_good_script_and_flags_a_bad_one(cli, samples: Path, make_script) -> None:
    """doctor checks x bit, shebang, --auth-token acceptance and prints the permission."""
    good = cli("doctor", str(samples / "handle_csv.py"))
    assert good.exit_code == 0, good.stdout
    assert "SCRIPTING:EXECUTE:handle_csv.py" in good.stdout
    strict = make_script("strict.py", "#!/usr/bin/env python3\nimport argparse\n"
                         "argparse.ArgumentParser().parse_args()\n")
    bad = cli("doctor", str(strict))
    assert bad.exit_code == 1
    assert "[FAIL] accepts --auth-token=" in bad.stdout
    crlf = make_script("crlf.sh", "#!/bin/sh\r\necho hi\r\n")
    assert "CRLF" in cli("doctor", "--no-run", str(crlf)).stdout


def test_ctrl_c_stops_the_script_and_removes_the_workdir(tmp_path: Path, make_script,
                                                         roots: dict[str, Path]) -> None:
    """SIGINT to sss-emulate: the script's group dies, workdir removed, exit 130."""
    script = make_script("long.sh", "#!/bin/bash\nsleep 300 &\necho $! > \"$SHARED_DIR/pid\"\n"
                         "echo ready\nwait\n")
    env = dict(os.environ, SSS_WORK_ROOT=str(roots["work_root"]),
               SSS_SHARED_ROOT=str(roots["shared_root"]))
    proc = subprocess.Popen([sys.executable, "-m", "sss_emulator", str(script)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert list(roots["work_root"].iterdir()) == []
    pid_file = next(roots["shared_root"].iterdir()) / "pid"
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for an init that does not reap counts as gone)."""
    return processes.state(pid) not in (None, "Z")


def test_python_dash_m_and_help(tmp_path: Path) -> None:
    """python -m sss_emulator --help lists the commands."""
    out = subprocess.run([sys.executable, "-m", "sss_emulator", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "run" in out and "list" in out and "doctor" in out


def test_attach_stores_a_file_without_an_argument(cli, samples: Path, examples: Path) -> None:
    """--attach: the web UI's way of sending the CSV a form.json names."""
    data = examples / "data"
    result = cli("--bin-dir", str(samples), "handle_csv.py", "-p0", f"@{data / 'form.json'}",
                 "--attach", str(data / "table.csv"), "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["call"] == "handle_csv.py .upload_files/form.json"
    assert {f["name"] for f in doc["shared_files"]} == {"log.txt", "output.json"}
    link = next(f["link"] for f in doc["shared_files"] if f["name"] == "output.json")
    assert link in doc["stdout"]


def test_more_bad_input_each_one_line(cli, tmp_path: Path, samples: Path, make_script) -> None:
    """Not executable, two uploads named alike, a broken profile, a broken users file."""
    script = make_script("plain.sh", "#!/bin/sh\necho hi\n", mode=0o644)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.json").write_text("{}")
    (tmp_path / "b" / "x.json").write_text("{}")
    (tmp_path / "users.yaml").write_text("users: [unclosed\n")
    cases = [
        ([str(script)], "chmod +x"),
        ([str(samples / "minimal.bash"), "-p0", "@a/x.json", "-p1", "@b/x.json"],
         "Two uploads are named 'x.json'"),
        (["--profile", str(tmp_path / "a"), "minimal.bash"], "is not a LinkAhead profile"),
        (["--users", "users.yaml", str(samples / "minimal.bash")], "users.yaml:"),
    ]
    for args, message in cases:
        result = cli(*args)
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 125, (args, result.output)
        assert len(lines) == 1 and message in lines[0], (args, lines)


def test_internal_error_is_one_line_unless_debug(samples: Path, roots: dict[str, Path],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in the emulator: one line and exit 125; --debug shows the traceback."""
    import io

    import sss_emulator.cli.commands as cli_module
    from sss_emulator.invocation import Emulator, RunInvocation

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(Emulator, "run", broken)
    invocation = RunInvocation(str(samples / "minimal.bash"), (),
                                          {"work_root": str(roots["work_root"])})
    err = io.StringIO()
    assert cli_module.execute(invocation, stdout=io.BytesIO(), stderr=err) == 125
    assert err.getvalue().splitlines() == [
        "sss-emulate: internal error: RuntimeError: boom; rerun with --debug for the traceback "
        "and report it."]
    with pytest.raises(RuntimeError):
        cli_module.execute(invocation, stdout=io.BytesIO(), stderr=io.StringIO(), debug=True)


def test_unparsable_command_line_still_gives_one_json_document(cli) -> None:
    """--format json and an option click rejects: the JSON error document, then click's usage."""
    result = cli("--timeout", "soon", "minimal.bash", "--format", "json")
    assert result.exit_code == 125
    doc = json.loads(result.stdout)
    assert doc["code"] is None and "--timeout" in doc["error"]["message"]
    assert "Invalid value for '--timeout'" in result.stderr


def test_keep_prints_each_note_once(cli, samples: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A settings note printed before the run is not repeated with --keep's notes."""
    monkeypatch.setenv("SSS_TIMEOUT", "30")
    result = cli(str(samples / "minimal.bash"), "--keep", "--timeout", "20")
    assert result.stderr.count("SSS_TIMEOUT ignored") == 1
    assert "note: the run's .pylinkahead.ini" in result.stderr


def test_no_stand_in_is_honoured(cli, make_script) -> None:
    """--no-stand-in (a False flag) reaches the settings: HOME gets no patched ini."""
    script = make_script("ini.sh", "#!/bin/sh\ntest -e \"$HOME/.pylinkahead.ini\" && echo ini "
                                   "|| echo none\n")
    assert cli(str(script), "--no-stand-in").stdout == "none\n"
    assert cli(str(script)).stdout == "ini\n"


@pytest.mark.parametrize("written", ["off", "none", "0"])
def test_timeout_words_for_no_limit_are_accepted(cli, samples: Path, written: str) -> None:
    result = cli(str(samples / "minimal.bash"), "--timeout", written, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["code"] == 0


def test_user_admin_is_the_default_admin(cli, tmp_path: Path, samples: Path) -> None:
    """--user admin, when the users file has no admin, is the default admin (administration)."""
    (tmp_path / "users.yaml").write_text("users:\n  alice: {roles: [team]}\n")
    for user, code in (("admin", 0), ("alice", 125)):
        result = cli("--bin-dir", str(samples), "--users", "users.yaml", "--user", user,
                     "minimal.bash", "--format", "json")
        assert result.exit_code == code, result.output


def test_a_refusal_uses_the_format_of_pyproject(cli, tmp_path: Path, samples: Path) -> None:
    """The format of an error comes from the same engine as a run's: here pyproject.toml."""
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.sss-emulator]\nbin-dirs = ["{samples}"]\nformat = "json"\n')
    result = cli("nope.sh")
    assert result.exit_code == 125
    assert json.loads(result.stdout)["error"]["type"] == "ScriptNotFound"
