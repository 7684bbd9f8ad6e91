"""``sss-emulate compare`` against a second ``sss-emulate serve`` process playing the server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from fidelity_helpers import ALICE_PASSWORD, PASSWORD, Server

from sss_emulator.cli import compare as compare_cli
from sss_emulator.cli.commands import main


@pytest.fixture
def compare(site: Path, fidelity_env: dict[str, str], samples: Path, monkeypatch: pytest.MonkeyPatch
            ) -> Callable[..., Result]:
    """Invoke ``sss-emulate compare`` in-process with the site's bin dirs and local roots."""
    monkeypatch.chdir(site)

    def invoke(server: Server, *args: str, home: str = "local", password: str | None = PASSWORD,
               user: str = "admin", input: str | None = None, yes: bool = True) -> Result:
        env = dict(fidelity_env)
        if password is not None:
            env["SSS_PASSWORD"] = password
        command = ["compare", "--server-url", server.url, "--user", user,
                   "--bin-dir", str(site / "bin"), "--bin-dir", str(samples),
                   "--home", str(site / f"home-{home}"), *(["--yes"] if yes else []), *args]
        return CliRunner().invoke(main, command, env=env, input=input, catch_exceptions=False)

    return invoke


def test_a_different_home_skeleton_is_exactly_the_difference(compare, server) -> None:
    """Only stdout differs, in the greeting line; tokens, paths, links and dates do not."""
    result = compare(server, "greet.sh", "-p0", "Positional0", "-Ooption2=x",
                     "--format", "json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["schema"] == "sss-emulator/compare/v1"
    assert report["differences"] == ["stdout"]
    stdout = next(a for a in report["aspects"] if a["name"] == "stdout")
    assert [line for line in stdout["diff"] if line[:1] in "+-" and line[:3] not in "+++---"] \
        == ["-hello from the server skeleton", "+hello from the local skeleton"]
    shared = next(a for a in report["aspects"] if a["name"] == "shared_files")
    assert shared["equal"] and shared["left"] == "== out.txt\nreport for Positional0"


def test_the_same_configuration_shows_no_difference(compare, server) -> None:
    """Same bin dir and skeleton: exit 0, 'no difference.', every aspect the same."""
    result = compare(server, "greet.sh", "-p0", "Positional0", home="server")
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith("no difference.")
    for title in ("HTTP status", "exit code", "call", "stdout", "stderr", "shared files",
                  "response shape"):
        assert any(line.split()[:len(title.split()) + 1] == [*title.split(), "same"]
                   for line in result.stdout.splitlines()), title


def test_the_text_report_lays_differences_side_by_side(compare, server) -> None:
    """The differing line sits in two columns with sdiff's '|'; the summary names it."""
    result = compare(server, "greet.sh", "-p0", "x")
    assert result.exit_code == 1
    row = next(line for line in result.stdout.splitlines() if "skeleton" in line)
    left, mark, right = row.partition(" | ")
    assert "hello from the server skeleton" in left and mark
    assert right.strip() == "hello from the local skeleton"
    assert result.stdout.rstrip().endswith("1 difference: stdout.")


def test_bin_dir_paths_and_tokens_are_normalised(compare, server) -> None:
    """minimal.bash prints its absolute path and its token: both differ, neither counts."""
    result = compare(server, "minimal.bash", "-p0", "Positional0", "-Ooption1=", "--format",
                     "json", home="server")
    report = json.loads(result.stdout)
    assert report["equal"], result.stdout
    stdout = next(a for a in report["aspects"] if a["name"] == "stdout")
    assert stdout["left"] == ("<BIN_DIR>/minimal.bash --auth-token=<TOKEN> --option1= "
                              "Positional0\n")


def test_uploads_go_to_both_sides(compare, server, examples: Path) -> None:
    """@file is uploaded to the server and to the local run alike."""
    data = examples / "data" / "data.json"
    result = compare(server, "print_file.bash", "-p0", f"@{data}", "--format", "json")
    report = json.loads(result.stdout)
    assert report["equal"], result.stdout
    stdout = next(a for a in report["aspects"] if a["name"] == "stdout")
    assert stdout["left"] == data.read_text()
    call = next(a for a in report["aspects"] if a["name"] == "call")
    assert call["left"] == "print_file.bash .upload_files/data.json"


def test_runs_locally_as_the_server_ran_it(compare, server, site: Path) -> None:
    """alice's roles come from the server's answer; with the same users file both refuse
    what she may not run, and both run what she may."""
    users = ("--users", str(site / "users.yaml"))
    refused = compare(server, "minimal.bash", *users, user="alice", password=ALICE_PASSWORD,
                      home="server")
    assert refused.exit_code == 0, refused.output
    assert "HTTP status     same      403" in refused.stdout
    assert "shared files    same      (none)" in refused.stdout
    allowed = compare(server, "greet.sh", "-p0", "y", *users, user="alice",
                      password=ALICE_PASSWORD, home="server")
    assert allowed.exit_code == 0, allowed.output
    assert "as alice (team)" in allowed.stdout


def test_a_local_permission_gap_is_a_difference(compare, server) -> None:
    """Without the users file locally, alice's role grants nothing here: 200 vs 403."""
    result = compare(server, "greet.sh", "-p0", "y", "--format", "json", user="alice",
                     password=ALICE_PASSWORD, home="server")
    report = json.loads(result.stdout)
    assert result.exit_code == 1
    status = next(a for a in report["aspects"] if a["name"] == "status")
    assert (status["left"], status["right"]) == ("200", "403")


def test_rules_file_adds_normalisation(compare, server, site: Path) -> None:
    """A user rule rewrites what only the user knows to be irrelevant."""
    rules = site / "rules.txt"
    rules.write_text("# the skeletons greet differently\nhello from the \\w+ skeleton => "
                     "<GREETING>\n")
    result = compare(server, "greet.sh", "-p0", "z", "--rules", str(rules))
    assert result.exit_code == 0, result.output
    assert "hello from the \\w+ skeleton => <GREETING>" in result.stdout.replace("\n    ", " ")


@pytest.mark.parametrize("rule", ["no separator here", "( => x", "a => \\9"])
def test_a_bad_rule_is_one_line_and_exit_2(compare, server, site: Path, rule: str
                                           ) -> None:
    """A broken rule file names file and line; nothing runs anywhere."""
    rules = site / "bad.txt"
    rules.write_text(f"\n{rule}\n")
    result = compare(server, "greet.sh", "--rules", str(rules))
    assert result.exit_code == 125
    assert f"{rules}:2" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_without_a_terminal_and_without_yes_it_refuses(compare, server) -> None:
    """One line, exit 125, and the script never ran on the server."""
    result = compare(server, "greet.sh", yes=False)
    assert result.exit_code == 125
    assert result.stderr.count("\n") == 1 and "--yes" in result.stderr
    assert "greet.sh" in result.stderr


def test_at_a_terminal_it_asks_first(compare, server, monkeypatch: pytest.MonkeyPatch
                                     ) -> None:
    """A 'no' stops before anything runs; a 'yes' compares."""
    monkeypatch.setattr(compare_cli, "_interactive", lambda: True)
    declined = compare(server, "greet.sh", yes=False, input="n\n")
    assert declined.exit_code == 125
    assert "for real" in declined.stderr and "nothing ran" in declined.stderr
    accepted = compare(server, "greet.sh", yes=False, input="y\n", home="server")
    assert accepted.exit_code == 0, accepted.output


def test_password_from_a_file(compare, server, site: Path) -> None:
    """--password-file is read (trailing newline dropped); SSS_PASSWORD is not needed."""
    secret = site / "pw"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    result = compare(server, "greet.sh", "--password-file", str(secret), password=None,
                     home="server")
    assert result.exit_code == 0, result.output


def test_no_password_and_no_terminal_is_a_usage_error(compare, server) -> None:
    """Without a password source the command says which ones exist."""
    result = compare(server, "greet.sh", password=None)
    assert result.exit_code == 125
    assert "--password-file" in result.stderr and "SSS_PASSWORD" in result.stderr


def test_a_wrong_password_is_exit_2_with_json(compare, server) -> None:
    """A refused login is no difference: exit 125, one JSON document naming the error."""
    result = compare(server, "greet.sh", "--format", "json", password="wrong")
    assert result.exit_code == 125
    document = json.loads(result.stdout)
    assert document["equal"] is None and "refused the login" in document["error"]["message"]


def test_usage_errors(compare, server, site: Path, fidelity_env: dict[str, str]) -> None:
    """No --server-url, no user, xml format, a bad argument: exit 125, one line each."""
    assert compare(server, "greet.sh", "--format", "xml").exit_code == 125
    bad = compare(server, "greet.sh", "-p0", "@no-such-file.json")
    assert bad.exit_code == 125 and "no-such-file.json" in bad.stderr
    env = {**fidelity_env, "SSS_PASSWORD": PASSWORD}
    runner = CliRunner()
    missing_url = runner.invoke(main, ["compare", "--bin-dir", str(site / "bin"), "--user",
                                       "admin", "--yes", "greet.sh"], env=env)
    assert missing_url.exit_code == 125 and "--server-url" in missing_url.stderr
    missing_user = runner.invoke(main, ["compare", "--bin-dir", str(site / "bin"),
                                        "--server-url", server.url, "--yes", "greet.sh"],
                                 env=env)
    assert missing_user.exit_code == 125 and "--user" in missing_user.stderr


def test_both_sides_refusing_an_unknown_script_agree(compare, server) -> None:
    """A refusal is an answer like any other: 404 on both sides is no difference."""
    result = compare(server, "no-such-script.sh", home="server")
    assert result.exit_code == 0, result.output
    assert "HTTP status     same      404" in result.stdout


def test_an_unreachable_server_is_exit_2(compare, site: Path) -> None:
    """Nothing listens: one line naming the URL."""
    gone = Server("http://127.0.0.1:9", None, site / "bin", site)  # type: ignore[arg-type]
    result = compare(gone, "greet.sh")
    assert result.exit_code == 125
    assert "Cannot reach http://127.0.0.1:9" in result.stderr


# --- the password: a private file, never in clear over a network -----------------------------


def test_a_password_file_other_users_may_read_is_refused(compare, server, site: Path) -> None:
    """As ssh refuses a private key others can read: one line naming the fix, exit 125 (no
    comparison), no login; the same file made private (chmod 600) works."""
    secret = site / "pw-open"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o644)
    result = compare(server, "greet.sh", "--password-file", str(secret), password=None,
                     home="server")
    assert result.exit_code == 125
    assert result.stderr.count("\n") == 1, result.stderr
    assert "open to other users (mode 0644)" in result.stderr
    assert f"chmod 600 {secret}" in result.stderr
    secret.chmod(0o600)
    result = compare(server, "greet.sh", "--password-file", str(secret), password=None,
                     home="server")
    assert result.exit_code == 0, result.output


def test_a_plain_http_server_elsewhere_is_warned_of_before_anything_is_sent(compare) -> None:
    """http:// to another machine: one warning line, before the confirmation (nothing sent)."""
    elsewhere = Server("http://linkahead.example.org", None, Path(), Path())  # type: ignore[arg-type]
    result = compare(elsewhere, "greet.sh", yes=False)
    assert result.exit_code == 125
    lines = result.stderr.splitlines()
    assert lines[0] == ("sss-emulate compare: warning: http://linkahead.example.org is plain "
                        "http: the password and every session token cross the network "
                        "unencrypted; use https:// (with --cacert for a self-signed "
                        "certificate).")
    assert "--yes" in lines[1]


def test_run_with_a_plain_http_server_url_warns(fidelity_env: dict[str, str], site: Path
                                                ) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sss_emulator", "run", "--server-url",
         "http://linkahead.example.org", "--username", "admin", "--bin-dir", str(site / "bin"),
         "greet.sh"], env=fidelity_env, capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL, check=False)
    assert "warning: http://linkahead.example.org is plain http" in done.stderr, done.stderr


def test_a_password_from_a_pipe_is_taken(compare, server) -> None:
    """--password-file <(pass show srv): a pipe holds nothing on disk, so it is not refused."""
    read, write = os.pipe()
    os.write(write, (PASSWORD + "\n").encode())
    os.close(write)
    try:
        result = compare(server, "greet.sh", "--password-file", f"/dev/fd/{read}",
                         password=None, home="server")
    finally:
        os.close(read)
    assert result.exit_code == 0, result.output


def test_run_with_a_server_url_logs_its_session_out_when_done(
        fidelity_env: dict[str, str], server: Server, samples: Path) -> None:
    """The script gets the real server's session token on its command line, where every local
    user can read it (ps): once the run is over the session is logged out, so a token read
    there no longer works on the server."""
    import re
    import urllib.error
    import urllib.parse
    import urllib.request

    done = subprocess.run(
        [sys.executable, "-m", "sss_emulator", "run", "--server-url", server.url,
         "--username", "admin", "--bin-dir", str(samples), "minimal.bash", "-p0", "x"],
        env={**fidelity_env, "SSS_PASSWORD": PASSWORD}, capture_output=True, text=True,
        timeout=120, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, done.stderr
    token = re.search(r"--auth-token=(\S+)", done.stdout)
    assert token is not None, done.stdout
    request = urllib.request.Request(
        server.url + "/scripting", data=b"call=greet.sh&-p0=leaked", method="POST",
        headers={"Cookie": "SessionToken=" + urllib.parse.quote(token.group(1), safe="")})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60).close()
    assert refused.value.code == 401
