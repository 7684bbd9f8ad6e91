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


def test_profile_and_explicit_bin_dir_note(tmp_path: Path, examples: Path) -> None:
    """An explicit --bin-dir overrides the profile's, and says so."""
    settings = resolve_settings({"profile": str(examples / "profile"),
                                 "bin_dirs": (str(tmp_path),)}, {}, tmp_path)
    assert settings.bin_dirs == (tmp_path.absolute(),)
    assert any("bin dirs of the profile ignored" in n for n in settings.notes)
    assert os.path.isabs(settings.bin_dirs[0])
