"""Running real scripts through the Emulator: the server's calling convention end to end."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from lxml import etree

from sss_emulator.core.hooks import RunContext
from sss_emulator.core.tokens import PurposeEntry
from sss_emulator.errors import (
    NotAuthenticated,
    PermissionDenied,
    ScriptNotFound,
    SetupError,
)
from sss_emulator.invocation import Emulator


@pytest.fixture
def em(samples: Path, roots: dict[str, Path]) -> Emulator:
    return Emulator([samples], timeout=60, **roots)


def _leftovers(roots: dict[str, Path]) -> list[Path]:
    work = roots["work_root"]
    return list(work.iterdir()) if work.exists() else []


def test_minimal_gets_token_first_then_options_then_positionals(em: Emulator,
                                                                samples: Path) -> None:
    """argv[0] absolute, --auth-token first, options in order, positionals by index."""
    res = em.run_server_side_script("minimal.bash", "Positional0", "Positional1",
                                    option1="", option2="some-value")
    assert res.code == 0
    assert res.call == "minimal.bash --option1= --option2=some-value Positional0 Positional1"
    printed = res.stdout_text.rstrip("\n").split(" ")
    assert printed[0] == str(samples.absolute() / "minimal.bash")
    assert printed[1].startswith('--auth-token=["S","PAM","admin",["administration"]')
    assert printed[2:] == ["--option1=", "--option2=some-value", "Positional0", "Positional1"]
    assert res.stderr is None
    assert res.argv[1] == "--auth-token=<redacted>"


def test_ignored_form_fields_are_named_in_the_outcome(em: Emulator) -> None:
    """--option2 is the CLI's spelling; over the form API it is dropped, as the server does,
    and the outcome says so (ignored_fields, a note, the JSON document)."""
    res = em.run_form([("call", "minimal.bash"), ("--option2", "x"), ("-p0", "a")])
    assert res.code == 0
    assert res.call == "minimal.bash a"
    assert res.ignored_fields == ("--option2",)
    assert any("'--option2' was ignored" in n and "-Ooption2" in n for n in res.notes)
    document = json.loads(res.to_json())
    assert document["ignored_fields"] == ["--option2"]
    assert any("--option2" in n for n in document["notes"])
    assert em.run_form([("call", "minimal.bash")]).ignored_fields == ()


def test_workdir_is_home_with_skeleton_uploads_and_shared_dir(
        tmp_path: Path, em: Emulator, examples: Path, roots: dict[str, Path]) -> None:
    """cwd == HOME, hidden skeleton files copied, uploads in .upload_files, stdin /dev/null."""
    skeleton = tmp_path / "home"
    (skeleton / "sub").mkdir(parents=True)
    (skeleton / ".pylinkahead.ini").write_text("[Connection]\nurl = https://x\n")
    (skeleton / "sub" / ".hidden").write_text("h")
    em.home = skeleton
    res = em.run_server_side_script("administration/diagnostics.py", "p0",
                                    files={"-Odata": examples / "data" / "data.json"})
    report = json.loads(res.stdout_text)
    assert report["cwd_is_home"] is True
    assert report["auth_token"] == "present"
    assert report["arguments"] == ["--data=.upload_files/data.json", "p0"]
    assert sorted(report["working_dir"]) == [".pylinkahead.ini", ".upload_files/data.json",
                                             "sub/.hidden"]
    assert report["stdin_is_devnull"] is True
    assert report["SHARED_DIR"] == str(res.shared_dir)
    assert Path(report["SHARED_DIR"]).parent == roots["shared_root"]
    assert res.shared_dir.is_dir(), "SHARED_DIR is kept after the run"
    assert not Path(report["cwd"]).exists(), "the working dir is removed"


def test_environment_is_the_callers_plus_home_and_shared_dir(
        make_script, roots: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller's variables pass, --env adds, ini overrides and PWD are not passed."""
    script = make_script("env.sh", "#!/bin/sh\nenv\n")
    monkeypatch.setenv("MY_VAR", "mine")
    monkeypatch.setenv("PYLINKAHEADINI", "/home/dev/.pylinkahead.ini")
    em = Emulator([script.parent], env={"EXTRA": "1"}, **roots)
    env = dict(line.split("=", 1) for line in em.run_server_side_script("env.sh")
               .stdout_text.splitlines() if "=" in line)
    assert env["MY_VAR"] == "mine" and env["EXTRA"] == "1"
    assert "PYLINKAHEADINI" not in env
    assert env["HOME"].startswith(str(roots["work_root"]))
    assert env["SHARED_DIR"].startswith(str(roots["shared_root"]))


@pytest.mark.parametrize("body", ["#!/bin/sh\nexit 0\n", "#!/bin/sh\necho bad >&2\nexit 3\n"])
def test_workdir_removed_after_success_and_failure(make_script, roots: dict[str, Path],
                                                   body: str) -> None:
    """Success or non-zero exit: nothing left in the work root."""
    script = make_script("s.sh", body)
    res = Emulator([script.parent], **roots).run_server_side_script("s.sh")
    assert res.code in (0, 3)
    assert _leftovers(roots) == []


def test_nonzero_exit_and_stderr_are_reported(make_script, roots: dict[str, Path]) -> None:
    """The script's own code and stderr come back unchanged."""
    script = make_script("fail.sh", "#!/bin/sh\necho out\necho  problem  >&2\nexit 3\n")
    res = Emulator([script.parent], **roots).run_server_side_script("fail.sh")
    assert (res.code, res.stdout, res.stderr) == (3, "out\n", "problem\n")


def test_signal_death_gives_128_plus_n(make_script, roots: dict[str, Path]) -> None:
    """A script killed by SIGTERM reports 143."""
    script = make_script("die.sh", "#!/bin/sh\nkill -TERM $$\nsleep 5\n")
    res = Emulator([script.parent], **roots).run_server_side_script("die.sh")
    assert res.code == 128 + signal.SIGTERM


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); look at its state
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_timeout_kills_the_whole_group_and_keeps_output(make_script,
                                                        roots: dict[str, Path]) -> None:
    """Background children die too; output so far is kept; the workdir is removed."""
    script = make_script("hang.sh", "#!/bin/bash\nsleep 300 &\necho $! > \"$SHARED_DIR/pid\"\n"
                         "echo started\nsleep 300\n")
    res = Emulator([script.parent], timeout=1, **roots).run_server_side_script("hang.sh")
    assert res.timed_out and res.code is None
    assert res.stdout_text == "started\n"
    assert type(res.error).__name__ == "ScriptTimeout"
    child = int((res.shared_dir / "pid").read_text())
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)
    assert _leftovers(roots) == []
    xml = etree.fromstring(res.to_xml())
    assert xml.xpath("/Response/Error/@description") == [
        "This server-side script did not finish in time."]
    assert xml.xpath("/Response/script") == []


def test_children_left_running_are_stopped(make_script, roots: dict[str, Path]) -> None:
    """A background process that outlives the script is stopped with it (a U decision)."""
    script = make_script("bg.sh", "#!/bin/bash\nsleep 300 >/dev/null 2>&1 &\n"
                         "echo $! > \"$SHARED_DIR/pid\"\n")
    res = Emulator([script.parent], timeout=30, **roots).run_server_side_script("bg.sh")
    assert res.code == 0
    child = int((res.shared_dir / "pid").read_text())
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_bad_bytes_and_control_characters_keep_the_xml_well_formed(
        make_script, roots: dict[str, Path]) -> None:
    """Invalid UTF-8 is replaced; ESC and NUL never break the document."""
    script = make_script("bytes.sh",
                         "#!/bin/bash\nprintf 'ok \\xff \\033[31mred\\033[0m \\x00 é'\n")
    res = Emulator([script.parent], **roots).run_server_side_script("bytes.sh")
    doc = etree.fromstring(res.to_xml())
    stdout = doc.xpath("/Response/script/stdout")[0].text
    assert stdout.startswith("ok \ufffd \ufffd[31mred")
    assert stdout.endswith(" é")
    assert res.stdout == stdout


def test_pylib_xpaths_read_the_response(em: Emulator) -> None:
    """Exactly the XPaths of pylib's run_server_side_script; empty stderr is None."""
    res = em.run_server_side_script("minimal.bash", "x")
    xml = etree.fromstring(res.to_xml())
    assert int(xml.xpath("/Response/script/@code")[0]) == 0
    assert xml.xpath("/Response/script/call")[0].text == "minimal.bash x"
    assert xml.xpath("/Response/script/stdout")[0].text.endswith(" x\n")
    assert xml.xpath("/Response/script/stderr")[0].text is None
    assert "auth-token" not in xml.xpath("/Response/script/call")[0].text


def test_permission_denied_for_a_role_without_the_grant(samples: Path,
                                                        roots: dict[str, Path]) -> None:
    """A role needs SCRIPTING:EXECUTE:<call>; the message names the permission."""
    em = Emulator([samples], user="alice", roles=["team"], **roots)
    with pytest.raises(PermissionDenied, match=r"SCRIPTING:EXECUTE:administration:diagnostics\.py"):
        em.run_server_side_script("administration/diagnostics.py")
    assert _leftovers(roots) == []


def test_anonymous_gets_no_token_unless_a_purpose_matches(samples: Path,
                                                          roots: dict[str, Path]) -> None:
    """Anonymous: no --auth-token; with a purpose entry a one-time token with its roles."""
    from sss_emulator.config import UsersConfig

    users = UsersConfig(role_permissions={"anonymous": ("SCRIPTING:EXECUTE:*",)})
    em = Emulator([samples], anonymous=True, users=users, **roots)
    plain = em.run_server_side_script("administration/diagnostics.py")
    assert json.loads(plain.stdout_text)["auth_token"] == "absent"
    em.purposes = (PurposeEntry("SCRIPTING:EXECUTE:minimal.bash", ("administration",)),)
    res = em.run_server_side_script("minimal.bash")
    assert '--auth-token=["O","OneTimeAuthenticationToken","anonymous",["administration"]' in (
        res.stdout_text)


def test_anonymous_refused_when_anonymous_access_is_off(samples: Path,
                                                        roots: dict[str, Path]) -> None:
    """The server's 401 when AUTH_OPTIONAL is off."""
    from sss_emulator.core.tokens import ANONYMOUS

    em = Emulator([samples], **roots)
    request = __import__("sss_emulator.core.call", fromlist=["x"]).CallRequest("minimal.bash")
    with pytest.raises(NotAuthenticated):
        em.run(request, identity=ANONYMOUS)


def test_unknown_script_and_missing_upload(em: Emulator, tmp_path: Path,
                                           roots: dict[str, Path]) -> None:
    """404 for an unknown call; an unreadable upload is a setup error, nothing left behind."""
    with pytest.raises(ScriptNotFound):
        em.run_server_side_script("nope.sh")
    with pytest.raises(SetupError, match="readable"):
        em.run_server_side_script("print_file.bash", files={"-p0": tmp_path / "missing.json"})
    assert _leftovers(roots) == []


def test_hook_failure_still_cleans_up(em: Emulator, roots: dict[str, Path]) -> None:
    """An exception while preparing a run removes the working directory."""

    class Broken:
        def before_run(self, context: RunContext) -> None:
            raise RuntimeError("boom")

        def after_run(self, context, outcome):  # pragma: no cover - never reached
            return outcome

        def close(self) -> None:
            pass

    em.hooks.append(Broken())
    with pytest.raises(RuntimeError):
        em.run_server_side_script("minimal.bash")
    assert _leftovers(roots) == []


def test_keep_leaves_the_workdir(em: Emulator) -> None:
    """keep=True leaves the directory for inspection and says where it is."""
    res = em.run_server_side_script("print_file.bash", "x") if False else None
    from sss_emulator.core.call import CallRequest

    res = em.run(CallRequest("minimal.bash"), keep=True)
    assert res.kept and res.workdir.is_dir()
    assert json.loads(res.to_json())["workdir"] == str(res.workdir)


def test_handle_csv_uses_caosadvancedtools_helpers(samples: Path, examples: Path,
                                                   roots: dict[str, Path]) -> None:
    """get_argument_parser, get_shared_filename and configure_server_side_logging for real."""
    em = Emulator([samples], timeout=60, **roots)
    res = em.run_server_side_script(
        "handle_csv.py",
        files={"-p0": examples / "data" / "form.json", "csvfile": examples / "data" / "table.csv"})
    assert res.code == 0, res.report()
    assert res.call == "handle_csv.py .upload_files/form.json"
    summary = json.loads(res.shared_files["output.json"].read_text())
    assert summary["rows"] == 3
    assert summary["numeric"]["mass"] == {"min": 1.5, "max": 4.0, "sum": 8.0}
    assert "log.txt" in res.shared_files
    assert 'class="alert alert-info' in res.stdout_text
    assert f"/Shared/{res.shared_dir.name}/output.json" in res.stdout_text


def test_shared_report_link_matches_shared_link(samples: Path, examples: Path,
                                                roots: dict[str, Path]) -> None:
    """The link a script prints is the one the outcome computes for its shared file."""
    em = Emulator([samples], timeout=60, **roots)
    res = em.run_server_side_script("shared_report.py", files={"-p0": examples / "data" /
                                                              "data.json"}, title="Mine")
    assert res.code == 0, res.report()
    assert res.shared_files["report.txt"].read_text().startswith("Mine\n====\n")
    assert res.shared_link("report.txt") in res.stdout_text
