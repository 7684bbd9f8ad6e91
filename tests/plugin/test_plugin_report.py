"""The failure report section and ``--sss-keep``."""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = """
import pathlib

def test_fails(sss):
    res = sss.run_server_side_script("echo.py", "first")
    sss.run_server_side_script("minimal.bash", "second")
    pathlib.Path("kept_fail.txt").write_text(str(res.workdir))
    assert res.code == 1

def test_passes(sss):
    res = sss.run_server_side_script("echo.py", "third")
    pathlib.Path("kept_pass.txt").write_text(str(res.workdir))

def test_refused(sss):
    sss.run_server_side_script("nope.sh")
"""


def test_failing_test_shows_every_run(pytester: pytest.Pytester, standard_bin: Path) -> None:
    pytester.makeini("[pytest]\nsss_bin_dirs = bin\n")
    pytester.makepyfile(TESTS)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "*_ test_fails _*",
        "*- sss-emulator runs -*",
        "[subprocess]",
        "call:       echo.py first",
        "argv:       */bin/echo.py --auth-token=<redacted> first",
        "code:       0",
        "user:       admin (administration)",
        "workdir:    */call-* (removed)",
        "shared_dir: *",
        "duration:   *s",
        "----- stdout -----",
        "args: first",
        "*",
        "----- stderr -----",
        "to stderr",
        "[subprocess]",
        "call:       minimal.bash second",
    ])
    result.stdout.fnmatch_lines([
        "*_ test_refused _*", "*- sss-emulator runs -*",
        "refused:    ScriptNotFound (HTTP 404): Script 'nope.sh' not found*",
    ])
    assert "call:       echo.py third" not in result.stdout.str()
    assert not Path((pytester.path / "kept_fail.txt").read_text()).exists()


def test_sss_keep_keeps_directories_of_failed_tests_only(pytester: pytest.Pytester,
                                                         standard_bin: Path) -> None:
    pytester.makeini("[pytest]\nsss_bin_dirs = bin\n")
    pytester.makepyfile(TESTS)
    result = pytester.runpytest("--sss-keep", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=2)
    kept = Path((pytester.path / "kept_fail.txt").read_text())
    assert kept.is_dir() and (kept / ".upload_files").is_dir()
    assert not Path((pytester.path / "kept_pass.txt").read_text()).exists()
    result.stdout.fnmatch_lines(["kept working directories:", f"  {kept}", "  */call-*"])
