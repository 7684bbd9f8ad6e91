"""Settings of the plugin: ini, command line, pyproject, marker, their precedence, bad input."""

from __future__ import annotations

import ast
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SHOW_SETTINGS = """
import pytest

def test_show(sss):
    print()
    print("BIN", [p.name for p in sss.bin_dirs])
    print("TIMEOUT", sss.timeout)
    print("MODE", sss.mode)
    print("USER", sss.identity.name, list(sss.identity.roles))
    print("HOME", sss.home and sss.home.name)
"""


def _settings(result: pytest.RunResult) -> dict[str, str]:
    lines = [line.split(" ", 1) for line in result.outlines
             if line.split(" ", 1)[0] in ("BIN", "TIMEOUT", "MODE", "USER", "HOME")]
    return {key: value for key, value in lines}


@pytest.fixture
def three_bins(write_bin: Callable[..., Path], pytester: pytest.Pytester) -> None:
    for folder in ("from_ini", "from_cli", "from_toml", "from_marker"):
        write_bin(folder)
    (pytester.path / "skel").mkdir()


def test_defaults(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SHOW_SETTINGS)
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    assert _settings(result) == {"BIN": "[]", "TIMEOUT": "60.0", "MODE": "subprocess",
                                 "USER": "admin ['administration']", "HOME": "None"}


def test_pyproject_table_is_the_lowest_layer(pytester: pytest.Pytester, three_bins: None) -> None:
    pytester.makepyprojecttoml(
        '[tool.sss-emulator]\nbin-dirs = ["from_toml"]\ntimeout = 7\nhome = "skel"\n'
        'user = "bob"\nroles = ["team"]\n'
    )
    pytester.makepyfile(SHOW_SETTINGS)
    result = pytester.runpytest("-s")
    assert _settings(result) == {"BIN": "['from_toml']", "TIMEOUT": "7.0", "MODE": "subprocess",
                                 "USER": "bob ['team']", "HOME": "skel"}


def test_ini_beats_pyproject_and_command_line_beats_ini(pytester: pytest.Pytester,
                                                        three_bins: None) -> None:
    pytester.makepyprojecttoml('[tool.sss-emulator]\nbin-dirs = ["from_toml"]\ntimeout = 7\n'
                               '[tool.pytest.ini_options]\nsss_bin_dirs = ["from_ini"]\n'
                               'sss_timeout = "8"\nsss_mode = "inprocess"\n')
    pytester.makepyfile(SHOW_SETTINGS)
    ini = _settings(pytester.runpytest("-s"))
    assert (ini["BIN"], ini["TIMEOUT"], ini["MODE"]) == ("['from_ini']", "8.0", "inprocess")
    cli = _settings(pytester.runpytest("-s", "--sss-bin-dir", "from_cli", "--sss-timeout", "9",
                                       "--sss-mode", "both"))
    assert (cli["BIN"], cli["TIMEOUT"], cli["MODE"]) == ("['from_cli']", "9.0", "both")


def test_marker_beats_command_line(pytester: pytest.Pytester, three_bins: None) -> None:
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.sss(user="modulewide", timeout=3)

        @pytest.mark.sss(bin_dirs=["from_marker"], timeout=2, mode="inprocess", user="carol",
                         roles=["r1", "r2"], home="skel")
        def test_show(sss):
            print()
            print("BIN", [p.name for p in sss.bin_dirs])
            print("TIMEOUT", sss.timeout)
            print("MODE", sss.mode)
            print("USER", sss.identity.name, list(sss.identity.roles))
            print("HOME", sss.home.name)

        def test_module_marker(sss):
            assert (sss.identity.name, sss.timeout) == ("modulewide", 3)

        @pytest.mark.sss(anonymous=True, env={"X": 1})
        def test_anonymous(sss):
            assert sss.identity.is_anonymous and sss.env["X"] == "1"
        """
    )
    result = pytester.runpytest("-s", "--sss-bin-dir", "from_cli", "--sss-timeout", "9",
                                "--sss-mode", "both")
    result.assert_outcomes(passed=3)
    assert _settings(result) == {"BIN": "['from_marker']", "TIMEOUT": "2.0",
                                 "MODE": "inprocess", "USER": "carol ['r1', 'r2']",
                                 "HOME": "skel"}


def test_timeout_zero_means_no_limit(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SHOW_SETTINGS)
    assert _settings(pytester.runpytest("-s", "--sss-timeout=0"))["TIMEOUT"] == "None"


def test_sss_variables_are_read_below_the_ini_file_and_above_pyproject(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The one SSS_* rule: a front end's explicit options (the ini file) > SSS_* > pyproject."""
    monkeypatch.setenv("SSS_TIMEOUT", "5")
    monkeypatch.setenv("SSS_USER", "vera")
    pytester.makepyprojecttoml('[tool.sss-emulator]\ntimeout = 7\nuser = "paula"\n')
    pytester.makepyfile(SHOW_SETTINGS)
    from_env = pytester.runpytest("-s")
    assert _settings(from_env)["TIMEOUT"] == "5.0"
    assert _settings(from_env)["USER"] == "vera []"
    from_env.stdout.fnmatch_lines(["sss-emulator: SSS_TIMEOUT, SSS_USER set in the environment*"])
    pytester.makeini("[pytest]\nsss_timeout = 8\n")
    assert _settings(pytester.runpytest("-s"))["TIMEOUT"] == "8.0"
    assert _settings(pytester.runpytest("-s", "--sss-timeout", "9"))["TIMEOUT"] == "9.0"


def test_no_header_line_without_sss_variables(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass\n")
    pytester.runpytest().stdout.no_fnmatch_line("*sss-emulator: SSS_*")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sss-bin-dir", "missing"], "ERROR: --sss-bin-dir: bin dir */missing does not exist*"),
        (["--sss-timeout", "soon"], "ERROR: --sss-timeout: timeout 'soon' is not a number*"),
        (["--sss-home", "nohome"], "ERROR: --sss-home: home skeleton */nohome does not exist*"),
        (["--sss-mode", "fast"], "*argument --sss-mode: invalid choice: 'fast'*"),
    ],
)
def test_bad_command_line_is_a_usage_error(pytester: pytest.Pytester, args: list[str],
                                           message: str) -> None:
    pytester.makepyfile("def test_x(): pass\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        ("sss_bin_dirs = nothere", "*sss_bin_dirs in *tox.ini: bin dir */nothere does not exist*"),
        ("sss_mode = fast", "*sss_mode in *tox.ini: mode 'fast' is not one of subprocess,*"),
        ("sss_timeout = -1", "*sss_timeout in *tox.ini: timeout '-1' must not be negative*"),
        ("sss_profile = noprofile", "*sss_profile in *tox.ini: */noprofile does not exist*"),
    ],
)
def test_bad_ini_value_fails_the_tests_that_use_sss(pytester: pytest.Pytester, ini: str,
                                                    message: str) -> None:
    pytester.makefile(".ini", tox=f"[pytest]\n{ini}\n")
    pytester.makepyfile("def test_uses(sss): pass\n\ndef test_plain(): pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([message])
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*settings.py*")


def test_malformed_pyproject_table_names_the_file(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.sss-emulator]\nbindirs = ["x"]\n')
    pytester.makepyfile("def test_uses(sss): pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*pyproject.toml: unknown key(s) bindirs in ?tool.sss-emulator?*"])


BAD_MARKERS = [
    ('"alice"', "*@pytest.mark.sss on *test_0: takes keyword arguments only*"),
    ("usr='alice'", "*test_1: unknown argument(s) usr; known: user, roles,*"),
    ("roles=[1]", "*test_2 roles=: ?1? must be a string or a list of strings"),
    ("timeout='x'", "*test_3 timeout=: timeout 'x' is not a number of seconds*"),
    ("mode='fork'", "*test_4 mode=: mode 'fork' is not one of subprocess, inprocess, both*"),
    ("bin_dirs=['gone']", "*test_5 bin_dirs=: bin dir */gone does not exist*"),
    ("anonymous='maybe'", "*test_6 anonymous=: 'maybe' is not a boolean (use true or false)*"),
    ("env=['A']", "*test_7 env=: environment entry 'A' is not KEY=VALUE*"),
    ("user=''", "*test_8 user=: '' must be a non-empty name*"),
]


def test_bad_marker_arguments_fail_with_one_line(pytester: pytest.Pytester) -> None:
    tests = [f"@pytest.mark.sss({marker})\ndef test_{i}(sss): pass\n"
             for i, (marker, _) in enumerate(BAD_MARKERS)]
    pytester.makepyfile("import pytest\n\n" + "\n".join(tests))
    result = pytester.runpytest()
    result.assert_outcomes(errors=len(BAD_MARKERS))
    for _, message in BAD_MARKERS:
        result.stdout.fnmatch_lines([message])
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*During handling*")


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.sss(user=None, roles=None, timeout=None, mode=*"])
    pytester.makepyfile("import pytest\n\n@pytest.mark.sss(user='a')\ndef test_x(): pass\n")
    pytester.runpytest("--strict-markers").assert_outcomes(passed=1)


def test_users_file_grants_and_home_from_the_command_line(pytester: pytest.Pytester,
                                                          standard_bin: Path) -> None:
    (pytester.path / "users.yaml").write_text(
        "users:\n  alice: {roles: [team]}\nroles:\n  team: [SCRIPTING:EXECUTE:echo.py]\n")
    (pytester.path / "skel").mkdir()
    (pytester.path / "skel" / "note.txt").write_text("from the skeleton")
    pytester.makeini("[pytest]\nsss_bin_dirs = bin\nsss_users = users.yaml\n")
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.sss(user="alice", roles=["team"])

        def test_granted(sss):
            assert sss.run_server_side_script("echo.py").code == 0
            assert sss.home.name == "skel"

        def test_not_granted(sss):
            with pytest.raises(sss.errors.PermissionDenied, match="SCRIPTING:EXECUTE:minimal"):
                sss.run_server_side_script("minimal.bash")
        """
    )
    pytester.runpytest("--sss-home", "skel").assert_outcomes(passed=2)


def test_profile_gives_bin_dirs(pytester: pytest.Pytester) -> None:
    bin_dir = pytester.path / "prof" / "custom" / "caosdb-server" / "scripting" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "hello.sh").write_text("#!/bin/sh\necho hello\n")
    (bin_dir / "hello.sh").chmod(0o755)
    pytester.makeini("[pytest]\nsss_profile = prof\n")
    pytester.makepyfile("def test_x(sss):\n"
                        "    assert sss.run_server_side_script('hello.sh').stdout == 'hello\\n'\n")
    pytester.runpytest().assert_outcomes(passed=1)


# --- the plugin and the command line read every value alike (one settings engine) ---------------


def _cli(argv: list[str], cwd: Path) -> Any:
    """What ``sss-emulate run ARGV`` would run with: parsed by click, prepared as the CLI does."""
    from sss_emulator.cli.commands import run_command
    from sss_emulator.cli.options import collect_options
    from sss_emulator.invocation import RunInvocation, prepare

    params = dict(run_command.make_context("run", ["--no-stand-in", *argv]).params)
    script, args = params.pop("script"), params.pop("script_args")
    for flag in ("watch", "debug"):
        params.pop(flag)
    return prepare(RunInvocation(script, tuple(args), collect_options(params), cwd))


SHOW_TWO = """
import pytest

def test_plain(sss):
    print()
    print("PLAIN", {show})

@pytest.mark.sss({marker})
def test_marked(sss):
    print()
    print("MARKED", {show})
"""


def _shown(result: pytest.RunResult) -> dict[str, str]:
    result.assert_outcomes(passed=2)
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in result.outlines
            if line.startswith(("PLAIN ", "MARKED "))}


@pytest.mark.parametrize(("text", "seconds"),
                         [("off", None), ("0", None), ("none", None), ("OFF", None),
                          ("2.5", 2.5)])
def test_a_timeout_means_the_same_in_the_cli_and_the_plugin(
        pytester: pytest.Pytester, standard_bin: Path, monkeypatch: pytest.MonkeyPatch,
        text: str, seconds: float | None) -> None:
    """--timeout, SSS_TIMEOUT, --sss-timeout, sss_timeout and timeout= read one way."""
    assert _cli(["--timeout", text, "bin/minimal.bash"], pytester.path).emulator.timeout \
        == seconds
    pytester.makepyfile(SHOW_TWO.format(show="sss.timeout", marker=f"timeout={text!r}"))
    monkeypatch.setenv("SSS_TIMEOUT", text)
    assert _cli(["bin/minimal.bash"], pytester.path).emulator.timeout == seconds
    assert _shown(pytester.runpytest("-s")) == {"PLAIN": str(seconds), "MARKED": str(seconds)}
    monkeypatch.delenv("SSS_TIMEOUT")
    assert _shown(pytester.runpytest("-s", "--sss-timeout", text))["PLAIN"] == str(seconds)
    pytester.makeini(f"[pytest]\nsss_timeout = {text}\n")
    assert _shown(pytester.runpytest("-s"))["PLAIN"] == str(seconds)


def test_env_pairs_add_up_alike_in_the_cli_and_the_plugin(
        pytester: pytest.Pytester, standard_bin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--env over SSS_ENV over pyproject's env, name by name; a marker's env= the same way."""
    pytester.makepyprojecttoml('[tool.sss-emulator]\nenv = {A = "0", D = "4"}\n')
    monkeypatch.setenv("SSS_ENV", "C=3 'E=from env'")
    expected = {"A": "1", "B": "x y", "C": "3", "D": "4", "E": "from env"}
    cli = _cli(["--env", "A=1", "--env", "B=x y", "bin/minimal.bash"], pytester.path)
    assert cli.emulator.env == expected
    assert any(note.startswith("A of env in ") and note.endswith("--env takes precedence")
               for note in cli.settings.notes)
    pytester.makepyfile(SHOW_TWO.format(show="sorted(sss.env.items())",
                                        marker='env={"A": 1, "B": "x y"}'))
    shown = {key: dict(ast.literal_eval(pairs))
             for key, pairs in _shown(pytester.runpytest("-s")).items()}
    assert shown == {"MARKED": expected, "PLAIN": {"A": "0", "C": "3", "D": "4", "E": "from env"}}


def test_a_path_with_a_tilde_means_the_same_in_the_cli_and_the_plugin(
        pytester: pytest.Pytester, standard_bin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """~ is expanded wherever a path is written; relative paths start where they are written."""
    home = Path(os.path.expanduser("~"))
    (home / "tilde_bin").mkdir()
    (home / "tilde_bin" / "minimal.bash").write_text((standard_bin / "minimal.bash").read_text())
    (home / "tilde_bin" / "minimal.bash").chmod(0o755)
    wanted = (home / "tilde_bin").absolute()
    assert _cli(["--bin-dir", "~/tilde_bin", "minimal.bash"], pytester.path).emulator.bin_dirs \
        == (wanted,)
    monkeypatch.setenv("SSS_BIN_DIRS", "~/tilde_bin")
    assert _cli(["minimal.bash"], pytester.path).emulator.bin_dirs == (wanted,)
    monkeypatch.delenv("SSS_BIN_DIRS")
    pytester.makepyprojecttoml('[tool.sss-emulator]\nbin-dirs = ["~/tilde_bin"]\n')
    assert _cli(["minimal.bash"], pytester.path).emulator.bin_dirs == (wanted,)
    pytester.makepyfile(SHOW_TWO.format(show="[str(p) for p in sss.bin_dirs]",
                                        marker='bin_dirs="~/tilde_bin"'))
    assert _shown(pytester.runpytest("-s")) == {"PLAIN": str([str(wanted)]),
                                                "MARKED": str([str(wanted)])}
    pytester.makeini("[pytest]\nsss_bin_dirs = ~/tilde_bin\n")
    assert _shown(pytester.runpytest("-s"))["PLAIN"] == str([str(wanted)])
    assert _shown(pytester.runpytest("-s", "--sss-bin-dir", "~/tilde_bin"))["PLAIN"] \
        == str([str(wanted)])


USERS = """
users:
  alice: {roles: [team]}
  lars: {roles: [team, audit], realm: LDAP}
roles:
  team: [SCRIPTING:EXECUTE:echo.py]
"""


@pytest.mark.parametrize(
    ("marker", "argv", "identity"),
    [
        ("", [], "admin PAM ['administration']"),
        ("user='alice'", ["--user", "alice"], "alice PAM ['team']"),
        ("user='lars'", ["--user", "lars"], "lars LDAP ['team', 'audit']"),
        ("user='alice', roles=['x']", ["--user", "alice", "--role", "x"], "alice PAM ['x']"),
        ("user='nobody', roles=['r']", ["--user", "nobody", "--role", "r"], "nobody PAM ['r']"),
        ("user='admin'", ["--user", "admin"], "admin PAM ['administration']"),
        ("roles='r1 r2'", ["--role", "r1", "--role", "r2"], "admin PAM ['r1', 'r2']"),
    ],
)
def test_marker_user_means_what_cli_user_means(pytester: pytest.Pytester, standard_bin: Path,
                                                marker: str, argv: list[str],
                                                identity: str) -> None:
    """Roles come from the users file's entry for the user, in both front ends."""
    (pytester.path / "users.yaml").write_text(USERS)
    prepared = _cli(["--users", "users.yaml", *argv, "bin/minimal.bash"], pytester.path)
    who = prepared.identity
    assert f"{who.name} {who.realm} {list(who.roles)}" == identity
    pytester.makeini("[pytest]\nsss_users = users.yaml\n")
    show = 'f"{sss.identity.name} {sss.identity.realm} {list(sss.identity.roles)}"'
    pytester.makepyfile(SHOW_TWO.format(show=show, marker=marker))
    assert _shown(pytester.runpytest("-s"))["MARKED"] == identity


def test_marker_user_the_users_file_does_not_list_is_refused(pytester: pytest.Pytester,
                                                              standard_bin: Path) -> None:
    """user='alce' (a typo) fails the test's setup with one line naming the known users."""
    (pytester.path / "users.yaml").write_text(USERS)
    pytester.makeini("[pytest]\nsss_bin_dirs = bin\nsss_users = users.yaml\n")
    pytester.makepyfile("import pytest\n\n@pytest.mark.sss(user='alce')\n"
                        "def test_typo(sss): pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*test_typo*unknown user 'alce' (did you mean 'alice'?): the "
                                 "users file lists alice, lars; *give roles= to run*"])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_marker_user_gets_the_users_file_roles_and_permissions(pytester: pytest.Pytester,
                                                               standard_bin: Path) -> None:
    """user="alice" alone may run what her role in the users file grants, and nothing else."""
    (pytester.path / "users.yaml").write_text(USERS)
    pytester.makeini("[pytest]\nsss_bin_dirs = bin\nsss_users = users.yaml\n")
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.sss(user="alice")

        def test_granted(sss):
            assert sss.run_server_side_script("echo.py").code == 0

        def test_not_granted(sss):
            with pytest.raises(sss.errors.PermissionDenied, match="User 'alice' [(]team[)]"):
                sss.run_server_side_script("minimal.bash")
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)
