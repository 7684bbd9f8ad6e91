"""Script lookup in bin dirs (contract §2) and reading a user's configuration (§6)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sss_emulator.config import MISSING, load_profile, load_users, resolve_settings
from sss_emulator.core.scripts import iter_scripts, resolve_script
from sss_emulator.errors import ConfigError, ScriptNotExecutable, ScriptNotFound


@pytest.fixture
def two_bins(tmp_path: Path) -> tuple[Path, Path]:
    first, second = tmp_path / "bin1", tmp_path / "bin2"
    for folder in (first, second, second / "sub"):
        folder.mkdir(parents=True, exist_ok=True)
    for path in (first / "a.sh", second / "a.sh", second / "b.sh", second / "sub" / "c.sh"):
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    return first, second


def test_first_bin_dir_wins_and_subfolders_work(two_bins: tuple[Path, Path]) -> None:
    """Bin dirs are searched in order; sub-folder calls resolve."""
    first, second = two_bins
    assert resolve_script("a.sh", [first, second]).path == first.absolute() / "a.sh"
    assert resolve_script("b.sh", [first, second]).bin_dir == second.absolute()
    assert resolve_script("sub/c.sh", [first, second]).call == "sub/c.sh"


@pytest.mark.parametrize("call", ["../bin1/a.sh", "/etc/passwd", "sub/../../bin1/a.sh", "",
                                  "nope.sh", "a\x00.sh"])
def test_escapes_and_missing_scripts_are_not_found(two_bins: tuple[Path, Path],
                                                   call: str) -> None:
    """Absolute calls and '..' escapes are refused exactly like a missing script (404)."""
    with pytest.raises(ScriptNotFound):
        resolve_script(call, [two_bins[1]])


def test_symlink_to_an_executable_elsewhere_is_a_script(tmp_path: Path,
                                                        two_bins: tuple[Path, Path]) -> None:
    """A link inside a bin dir pointing outside is valid (documented)."""
    outside = tmp_path / "elsewhere.sh"
    outside.write_text("#!/bin/sh\n")
    outside.chmod(0o755)
    (two_bins[0] / "link.sh").symlink_to(outside)
    assert resolve_script("link.sh", [two_bins[0]]).path == two_bins[0].absolute() / "link.sh"


def test_linked_folder_cannot_smuggle_a_call_out(tmp_path: Path,
                                                 two_bins: tuple[Path, Path]) -> None:
    """A folder symlink inside a bin dir does not make outside files callable."""
    (two_bins[0] / "escape").symlink_to(two_bins[1])
    with pytest.raises(ScriptNotFound):
        resolve_script("escape/b.sh", [two_bins[0]])


def test_not_executable_says_how_to_fix(two_bins: tuple[Path, Path]) -> None:
    """A script without the x bit is refused with the chmod command."""
    (two_bins[0] / "a.sh").chmod(0o644)
    with pytest.raises(ScriptNotExecutable, match="chmod \\+x"):
        resolve_script("a.sh", [two_bins[0]])


def test_iter_scripts_lists_calls_and_flags_non_executables(two_bins: tuple[Path, Path]) -> None:
    """Listing shadows later bin dirs and reports files lacking the x bit."""
    (two_bins[1] / "b.sh").chmod(0o644)
    found = list(iter_scripts(list(two_bins)))
    calls = [getattr(item, "call", None) or item[0] for item in found]  # type: ignore[index]
    assert calls == ["a.sh", "b.sh", "sub/c.sh"]
    assert isinstance(found[1], tuple)


def test_example_profile_is_read_as_the_server_would(examples: Path) -> None:
    """bin dir, HOME skeleton and AUTHTOKEN_CONFIG come from custom/caosdb-server."""
    profile = load_profile(examples / "profile")
    assert [p.name for p in profile.bin_dirs] == ["bin"]
    assert profile.home is not None and (profile.home / ".pylinkahead.ini").is_file()
    assert profile.authtoken_config is not None
    assert profile.authtoken_config.name == "authtoken.yaml"


def test_later_conf_files_override_earlier_ones(tmp_path: Path) -> None:
    """server.conf.d/*.conf are read in order; later keys win."""
    server = tmp_path / "custom" / "caosdb-server"
    conf = server / "conf" / "ext" / "server.conf.d"
    conf.mkdir(parents=True)
    (server / "scripting" / "one").mkdir(parents=True)
    (server / "two").mkdir()
    (conf / "10.conf").write_text("SERVER_SIDE_SCRIPTING_BIN_DIRS=./scripting/one\n")
    (conf / "20.conf").write_text("# comment\nSERVER_SIDE_SCRIPTING_BIN_DIRS=two missing\n")
    profile = load_profile(tmp_path)
    assert [p.name for p in profile.bin_dirs] == ["two"]
    assert any("missing" in note for note in profile.notes)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "is not a LinkAhead profile"),
        (lambda d: (d / "conf" / "ext" / "server.conf.d").mkdir(parents=True) or
         (d / "conf/ext/server.conf.d/x.conf").write_text("NOT A PAIR\n"), "x.conf:1"),
    ],
)
def test_broken_profiles_give_one_clear_error(tmp_path: Path, setup, message: str) -> None:
    """Not a profile, or a conf line without '=': ConfigError naming the place."""
    setup(tmp_path)
    with pytest.raises(ConfigError, match=message):
        load_profile(tmp_path)


def test_precedence_cli_env_pyproject(tmp_path: Path) -> None:
    """CLI > SSS_* > [tool.sss-emulator]; each ignored value is reported."""
    (tmp_path / "pyproject.toml").write_text('[tool.sss-emulator]\ntimeout = 5\n')
    env = {"SSS_TIMEOUT": "7"}
    assert resolve_settings({}, {}, tmp_path).timeout == 5
    from_env = resolve_settings({}, env, tmp_path)
    assert from_env.timeout == 7
    assert any("ignored" in n and "SSS_TIMEOUT" in n for n in from_env.notes)
    from_cli = resolve_settings({"timeout": 9.0}, env, tmp_path)
    assert from_cli.timeout == 9.0
    assert from_cli.sources["timeout"] == "--timeout"
    assert len([n for n in from_cli.notes if "ignored" in n]) == 2


def test_pyproject_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    """bin-dirs in pyproject.toml resolve against its folder, not the cwd."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "pyproject.toml").write_text('[tool.sss-emulator]\nbin-dirs = ["scripts"]\n')
    nested = tmp_path / "deep" / "er"
    nested.mkdir(parents=True)
    settings = resolve_settings({"bin_dirs": MISSING}, {}, nested)
    assert settings.bin_dirs == ((tmp_path / "scripts").absolute(),)
    assert settings.bin_dirs_configured


@pytest.mark.parametrize(
    ("pyproject", "env", "message"),
    [
        ('[tool.sss-emulator]\nbin-dir = "x"\n', {}, "unknown key"),
        ("[tool.sss-emulator\n", {}, "cannot read it as TOML"),
        ("", {"SSS_TIMEOUT": "soon"}, "SSS_TIMEOUT"),
        ("", {"SSS_BIN_DIRS": "/does/not/exist"}, "does not exist"),
    ],
)
def test_bad_settings_are_reported(tmp_path: Path, pyproject: str, env: dict[str, str],
                                   message: str) -> None:
    """Typos, broken TOML, bad values and missing folders: one ConfigError each."""
    (tmp_path / "pyproject.toml").write_text(pyproject)
    with pytest.raises(ConfigError, match=message):
        resolve_settings({}, env, tmp_path)


def test_users_file(tmp_path: Path, examples: Path) -> None:
    """Users with roles and role permissions; malformed YAML names file and line."""
    users = load_users(examples / "users.yaml")
    assert users.users["alice"].roles == ("team",)
    assert "SCRIPTING:EXECUTE:handle_csv.py" in users.role_permissions["team"]
    assert users.users["alice"].email is None
    mailed = tmp_path / "mailed.yaml"
    mailed.write_text("users:\n  bob: {roles: [team], email: bob@example.com}\n")
    assert load_users(mailed).users["bob"].email == "bob@example.com"
    broken = tmp_path / "users.yaml"
    broken.write_text("users:\n  alice: {roles: [team\n")
    with pytest.raises(ConfigError, match=r"users.yaml:\d+"):
        load_users(broken)


def test_a_role_may_deny_in_a_users_file(tmp_path: Path) -> None:
    """``deny:`` rules of a role take away what its grants give (the server's priority order),
    for scripts as for the stand-in's role permissions."""
    from sss_emulator.core.permissions import is_allowed

    path = tmp_path / "users.yaml"
    path.write_text("roles:\n  team:\n    permissions: ['SCRIPTING:EXECUTE:*']\n"
                    "    deny: ['SCRIPTING:EXECUTE:admin:*']\n")
    rules = load_users(path).role_permissions
    assert is_allowed(("team",), "SCRIPTING:EXECUTE:a.py", rules)
    assert not is_allowed(("team",), "SCRIPTING:EXECUTE:admin:reset.py", rules)


def test_profile_and_explicit_bin_dir_note(tmp_path: Path, examples: Path) -> None:
    """An explicit --bin-dir overrides the profile's, and says so."""
    settings = resolve_settings({"profile": str(examples / "profile"),
                                 "bin_dirs": (str(tmp_path),)}, {}, tmp_path)
    assert settings.bin_dirs == (tmp_path.absolute(),)
    assert any("bin dirs of the profile ignored" in n for n in settings.notes)
    assert os.path.isabs(settings.bin_dirs[0])


# --- the one settings engine: every layer parses a value the same way -------------------------


@pytest.mark.parametrize("written", ["off", "OFF", "none", "0", "0.0", " off "])
def test_no_limit_words_mean_no_timeout_in_every_layer(tmp_path: Path, written: str) -> None:
    """--timeout, SSS_TIMEOUT and pyproject's timeout read 0/none/off alike: no limit."""
    (tmp_path / "pyproject.toml").write_text(f'[tool.sss-emulator]\ntimeout = "{written}"\n')
    from_file = resolve_settings({}, {}, tmp_path)
    assert (from_file.timeout, from_file.sources["timeout"]) == (None, f"timeout in "
                                                                 f"{tmp_path / 'pyproject.toml'} "
                                                                 "[tool.sss-emulator]")
    assert resolve_settings({}, {"SSS_TIMEOUT": written}, tmp_path).timeout is None
    assert resolve_settings({"timeout": written}, {}, tmp_path).timeout is None


def test_an_explicit_empty_timeout_is_no_limit_and_an_empty_variable_is_unset(
        tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.sss-emulator]\ntimeout = 5\n')
    assert resolve_settings({"timeout": ""}, {}, tmp_path).timeout is None
    assert resolve_settings({}, {"SSS_TIMEOUT": ""}, tmp_path).timeout == 5
    (tmp_path / "pyproject.toml").write_text('[tool.sss-emulator]\ntimeout = 0\n')
    assert resolve_settings({}, {}, tmp_path).timeout is None


@pytest.mark.parametrize(
    ("cli", "env", "message"),
    [
        ({"timeout": "-1"}, {}, "--timeout: timeout '-1' must not be negative"),
        ({}, {"SSS_TIMEOUT": "soon"}, "SSS_TIMEOUT: timeout 'soon' is not a number of seconds"),
        ({}, {"SSS_KEEP": "maybe"}, "SSS_KEEP: 'maybe' is not a boolean"),
        ({"env": ("NOEQUALS",)}, {}, "--env: environment entry 'NOEQUALS' is not KEY=VALUE"),
        ({"format": "yaml"}, {}, "--format: format 'yaml' is not one of text, json, xml"),
        ({"bin_dirs": ("missing",)}, {}, "--bin-dir: bin dir .*missing does not exist"),
    ],
)
def test_a_bad_value_names_where_it_was_written(tmp_path: Path, cli: dict[str, object],
                                                env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_settings(cli, env, tmp_path, names=("keep",))


def test_booleans_read_alike_from_variables_and_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.sss-emulator]\nkeep = "yes"\n')
    assert resolve_settings({}, {}, tmp_path, names=("keep",)).values["keep"] is True
    assert resolve_settings({}, {"SSS_KEEP": "off"}, tmp_path, names=("keep",)).values["keep"] \
        is False


def test_paths_expand_the_tilde_and_start_where_they_are_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """~ everywhere; relative paths from the cwd (options, SSS_*) or the file's folder."""
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    for folder in ("me/skel", "repo/skel", "cwd/skel"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "repo" / "pyproject.toml").write_text('[tool.sss-emulator]\nhome = "skel"\n')
    cwd = tmp_path / "repo" / "cwd"
    cwd.mkdir()
    (cwd / "skel").mkdir()
    assert resolve_settings({}, {}, cwd).home == tmp_path / "repo" / "skel"
    assert resolve_settings({}, {"SSS_HOME": "skel"}, cwd).home == cwd / "skel"
    assert resolve_settings({}, {"SSS_HOME": "~/skel"}, cwd).home == tmp_path / "me" / "skel"
    assert resolve_settings({"home": "~/skel"}, {}, cwd).home == tmp_path / "me" / "skel"
    (tmp_path / "repo" / "pyproject.toml").write_text('[tool.sss-emulator]\nhome = "~/skel"\n')
    assert resolve_settings({}, {}, cwd).home == tmp_path / "me" / "skel"


def test_env_adds_up_across_layers_and_reports_what_it_overrode(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.sss-emulator]\nenv = {A = "0", B = "2"}\n')
    settings = resolve_settings({"env": ("A=1",)}, {"SSS_ENV": "C=3"}, tmp_path)
    assert dict(settings.env) == {"A": "1", "B": "2", "C": "3"}
    assert settings.sources["env"] == "--env"
    assert [n for n in settings.notes if n.startswith("A of ")] == [
        f"A of env in {tmp_path / 'pyproject.toml'} [tool.sss-emulator] ignored: --env takes "
        "precedence"]


def test_front_end_layers_sit_above_sss_variables(tmp_path: Path) -> None:
    """A front end's own layers (the plugin's --sss-*, ini) win over SSS_* and pyproject."""
    from sss_emulator.config import Layer

    (tmp_path / "pyproject.toml").write_text('[tool.sss-emulator]\ntimeout = 7\nuser = "p"\n')
    ini = Layer({"timeout": "8"}, tmp_path, lambda name: f"sss_{name} in tox.ini")
    settings = resolve_settings(front=(ini,), environ={"SSS_TIMEOUT": "off", "SSS_USER": "e"},
                                cwd=tmp_path, names=("user",), defaults={"timeout": 60.0})
    assert (settings.timeout, settings.sources["timeout"]) == (8.0, "sss_timeout in tox.ini")
    assert "SSS_TIMEOUT ignored: sss_timeout in tox.ini takes precedence" in settings.notes
    assert (settings.values["user"], settings.sources["user"]) == ("e", "SSS_USER")
    (tmp_path / "pyproject.toml").write_text("")
    assert resolve_settings(front=(), environ={}, cwd=tmp_path,
                            defaults={"timeout": 60.0}).timeout == 60.0


def test_with_layer_lays_a_marker_over_the_session(tmp_path: Path, examples: Path) -> None:
    """A per-test layer overrides, parses paths from its own folder, reuses unchanged files."""
    from sss_emulator.config import Layer, with_layer

    (tmp_path / "tests" / "skel").mkdir(parents=True)
    session = resolve_settings({"users": str(examples / "users.yaml"), "timeout": "9"}, {},
                               tmp_path)
    marker = Layer({"timeout": "off", "home": "skel", "env": {"X": 1}}, tmp_path / "tests",
                   lambda name: f"marker {name}=")
    test = with_layer(session, marker)
    assert (test.timeout, test.home, dict(test.env)) == (None, tmp_path / "tests" / "skel",
                                                        {"X": "1"})
    assert test.users is session.users
    assert "--timeout ignored: marker timeout= takes precedence" in test.notes
    assert session.timeout == 9.0


@pytest.mark.parametrize(
    ("user", "roles", "anonymous", "expected"),
    [
        (None, (), False, ("admin", "PAM", ("administration",))),
        ("admin", (), False, ("admin", "PAM", ("administration",))),
        (None, ("r",), False, ("admin", "PAM", ("r",))),
        ("alice", (), False, ("alice", "PAM", ("team",))),
        ("alice", ("x",), False, ("alice", "PAM", ("x",))),
        ("stranger", ("guest",), False, ("stranger", "PAM", ("guest",))),
        ("alice", (), True, ("anonymous", "anonymous", ("anonymous",))),
    ],
)
def test_identity_for_decides_who_calls(examples: Path, user: str | None,
                                        roles: tuple[str, ...], anonymous: bool,
                                        expected: tuple[str, str, tuple[str, ...]]) -> None:
    """One function for --user/--role/--anonymous and the plugin's user=/roles=/anonymous=."""
    from sss_emulator.config import identity_for

    who = identity_for(load_users(examples / "users.yaml"), user, roles, anonymous=anonymous)
    assert (who.name, who.realm, who.roles) == expected


def test_a_user_the_users_file_does_not_list_is_a_typo_unless_roles_are_given(
        examples: Path) -> None:
    """--user alce: "unknown user", the likely name and the users the file knows."""
    from sss_emulator.config import identity_for
    from sss_emulator.core.permissions import UsersConfig

    users = load_users(examples / "users.yaml")
    with pytest.raises(ConfigError) as refused:
        identity_for(users, "alce")
    assert refused.value.message == (
        "unknown user 'alce' (did you mean 'alice'?): the users file lists admin, alice, bob; "
        "use one of them, or give --role to run as a user it does not list")
    with pytest.raises(ConfigError, match="give roles= to run"):
        identity_for(users, "zed", roles_option="roles=")
    assert identity_for(UsersConfig(), "zed").roles == ()  # no users file: any name goes


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("users:\n  a: {password: x, role: [team]}\n",
         "user 'a': unknown key 'role' (did you mean 'roles'?); the keys are password, roles, "
         "realm, email"),
        ("users: {}\nrole:\n  team: []\n",
         "unknown key 'role' (did you mean 'roles'?); the keys are users, roles"),
        ("roles:\n  team: {permissions: [], extra: 1}\n",
         "role 'team': unknown key 'extra'; the keys are permissions, deny"),
        ("users: [a, b]\n", "'users' must be a mapping of names, e.g. alice: {roles: [team]}"),
    ],
)
def test_unknown_keys_in_a_users_file_are_refused(tmp_path: Path, text: str,
                                                   message: str) -> None:
    """A typo such as role: would otherwise leave a user without roles, silently."""
    path = tmp_path / "users.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_users(path)
    assert refused.value.message == f"{path}: {message}"


def test_a_refusal_by_a_deny_names_the_deny(tmp_path: Path) -> None:
    """Granting the permission again would change nothing against a deny: the one line names
    the role and its deny instead of saying "grant …"."""
    import subprocess
    import sys

    (tmp_path / "bin" / "administration").mkdir(parents=True)
    script = tmp_path / "bin" / "administration" / "diag.sh"
    script.write_text("#!/bin/sh\necho ran\n")
    script.chmod(0o755)
    users = tmp_path / "users.yaml"
    users.write_text("users:\n  alice: {password: pw, roles: [team]}\nroles:\n  team:\n"
                     "    permissions: ['SCRIPTING:EXECUTE:*']\n"
                     "    deny: ['SCRIPTING:EXECUTE:administration:diag.sh']\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    done = subprocess.run(
        [sys.executable, "-m", "sss_emulator", "--bin-dir", str(tmp_path / "bin"), "--users",
         str(users), "--user", "alice", "administration/diag.sh"],
        env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 125 and done.stdout == "", done
    line = done.stderr.strip()
    assert "role 'team' denies SCRIPTING:EXECUTE:administration:diag.sh" in line, line
    assert "grant SCRIPTING" not in line and len(done.stderr.splitlines()) == 1
