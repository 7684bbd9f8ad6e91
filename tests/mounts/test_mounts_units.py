"""The pieces: the bwrap command line, the profile's compose mounts, the settings."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sss_emulator.config import resolve_settings
from sss_emulator.config.compose import profile_mounts
from sss_emulator.connect.mounts import Mount, bwrap_argv
from sss_emulator.connect.world import server_world


def test_missing_mount_points_live_in_a_tmpfs_never_on_the_host(tmp_path: Path,
                                                                needs_bwrap: None) -> None:
    """A target below a folder that exists (tmp_path) but whose parents are missing: the folder
    is shadowed by a tmpfs with its entries bound back, and the host gains nothing."""
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "old.txt").write_text("old\n")
    (tmp_path / "link").symlink_to("kept")
    source = tmp_path / "src"
    source.mkdir()
    (source / "new.txt").write_text("new\n")
    target = tmp_path / "deep" / "mnt" / "extroot"
    before = sorted(os.listdir(tmp_path))
    argv = bwrap_argv([Mount(source, str(target), read_only=True)], shutil.which("bwrap") or "")
    assert "--new-session" not in argv and "--die-with-parent" not in argv
    done = subprocess.run(
        [*argv, "sh", "-c", f"cat {target}/new.txt {tmp_path}/link/old.txt; "
                            f"stat -c %a {tmp_path}/deep; touch {target}/x 2>/dev/null || "
                            "echo read-only"],
        capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["new", "old", "755", "read-only"]
    assert sorted(os.listdir(tmp_path)) == before
    assert not (tmp_path / "deep").exists()


def test_the_demo_profiles_compose_files_name_its_mounts(profile: Path) -> None:
    found, notes = profile_mounts(profile, "/opt/caosdb/mnt/extroot", environ={})
    by_target = {m.target: m for m in found}
    extroot = by_target["/opt/caosdb/mnt/extroot"]
    assert extroot.source == profile / "paths" / "extroot"
    assert extroot.read_only and extroot.origin == "compose.mount.yaml"
    assert by_target["/opt/caosdb/git/caosdb-server/scripting/bin"].origin == (
        "server_customization.yaml")
    assert notes == ()


def test_compose_variables_named_volumes_and_unknown_variables(tmp_path: Path) -> None:
    (tmp_path / ".env.custom").write_text("DATA_DIR=./data\n")
    (tmp_path / "compose.a.yaml").write_text(
        "services:\n  linkahead-server:\n    volumes:\n"
        "      - ${DATA_DIR}:$LA_SERVER_MOUNT_EXTROOT/mydata:ro\n"
        "      - linkahead-files-root:/linkahead/files\n"
        "      - ${NOT_SET}:/somewhere\n"
        "      - type: bind\n        source: ./conf\n        target: /linkahead/opt\n")
    found, notes = profile_mounts(tmp_path, "/linkahead/extroot", environ={})
    assert [(m.source, m.target, m.read_only) for m in found] == [
        (tmp_path / "data", "/linkahead/extroot/mydata", True),
        (tmp_path / "conf", "/linkahead/opt", False)]
    assert len(notes) == 1 and "${NOT_SET}:/somewhere skipped" in notes[0]


def test_a_project_opts_in_for_its_profile(tmp_path: Path, profile: Path) -> None:
    """[tool.sss-emulator] beside a profile: mounts on, its own extroot, the new image's paths."""
    (tmp_path / "data").mkdir()
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.sss-emulator]\nprofile = "{profile}"\nmounts = true\nextroot = "data"\n'
        'extroot-path = "/linkahead/extroot"\ncaosroot-path = "/linkahead/files"\n'
        'server-address = "ini"\n')
    settings = resolve_settings({}, environ={}, cwd=tmp_path,
                                names=("server_address", "mounts", "extroot", "extroot_path",
                                       "caosroot_path"))
    world = server_world(settings, environ={})
    assert world.address is not None and world.address.base == "https://localhost:10443"
    assert world.caosroot_path == "/linkahead/files"
    by_target = {m.target: m.source for m in world.mounts}
    assert by_target["/linkahead/extroot"] == tmp_path / "data"
    assert "/opt/caosdb/mnt/extroot" not in by_target


@pytest.mark.parametrize("variable, value, problem", [
    ("SSS_SERVER_ADDRESS", "ftp://127.0.0.1:1", "must look like"),
    ("SSS_EXTROOT_PATH", "relative/path", "absolute path"),
    ("SSS_MOUNTS", "perhaps", "not a boolean"),
])
def test_bad_values_name_their_variable(tmp_path: Path, variable: str, value: str,
                                        problem: str) -> None:
    from sss_emulator.errors import ConfigError

    with pytest.raises(ConfigError, match=problem) as caught:
        resolve_settings({}, environ={variable: value}, cwd=tmp_path,
                         names=("server_address", "mounts", "extroot_path"))
    assert variable in caught.value.message
