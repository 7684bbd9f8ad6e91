"""pytest --cov measures the scripts the plugin runs, in either mode and under xdist.

Each test runs a real ``pytest --cov=scripts`` in a pytester project and reads the numbers
coverage.py reports; without the plugin's runner, subprocess mode would report 0 %.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from sss_emulator.cli.commands import run_cli

pytest.importorskip("pytest_cov")

HELLO = """\
#!/usr/bin/env python3
import sys
def main(args):
    if "never" in args:
        print("unreached")
    print("hello", args)
    return 0
if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
"""
# 8 statements; line 5 never runs.
EXPECTED = re.compile(r"scripts[/\\]hello\.py\s+8\s+1\s+88%\s+5\b")

TESTS = """\
def test_one(sss):
    assert sss.run_server_side_script("hello.py", "a").code == 0

def test_two(sss):
    outcome = sss.run_server_side_script("hello.py", "b")
    assert outcome.stdout.startswith("hello [") and outcome.stdout.endswith("'b']\\n")
    assert outcome.stderr is None
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    scripts = pytester.mkdir("scripts")
    hello = scripts / "hello.py"
    hello.write_text(HELLO)
    hello.chmod(0o755)
    pytester.makeini("[pytest]\nsss_bin_dirs = scripts\naddopts = -p no:cacheprovider\n")
    pytester.makepyfile(test_hello=TESTS)
    return pytester


def _report(result: pytest.RunResult) -> str:
    return "\n".join(result.outlines)


@pytest.mark.slow
@pytest.mark.parametrize("extra", [[], ["--sss-mode=inprocess"], ["-n", "2"],
                                   ["-n", "2", "--sss-mode=both"]],
                         ids=["subprocess", "inprocess", "xdist", "xdist-both"])
def test_pytest_cov_reports_the_scripts_lines(project: pytest.Pytester, extra: list[str]) -> None:
    result = project.runpytest_subprocess("--cov=scripts", "--cov-report=term-missing",
                                          *extra)
    result.assert_outcomes(passed=2)
    assert EXPECTED.search(_report(result)), _report(result)


def test_without_cov_nothing_is_measured(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess()
    result.assert_outcomes(passed=2)
    assert not list(Path(project.path).glob(".coverage*"))


def test_cli_coverage_appends_each_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """sss-emulate --coverage: two runs with different arguments add up in .coverage."""
    import coverage

    for name in [n for n in os.environ if n.startswith(("SSS_", "COVERAGE_"))]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SSS_WORK_ROOT", str(tmp_path / "work"))
    monkeypatch.setenv("SSS_SHARED_ROOT", str(tmp_path / "shared"))
    script = tmp_path / "hello.py"
    script.write_text(HELLO)
    script.chmod(0o755)
    assert run_cli(["hello.py", "-p0", "a", "--coverage", "--no-stand-in"]) == 0
    assert "this run was added to" in capsys.readouterr().err
    data = coverage.CoverageData(str(tmp_path / ".coverage"))
    data.read()
    assert sorted(data.lines(str(script)) or []) == [2, 3, 4, 6, 7, 8, 9]
    assert run_cli(["hello.py", "-p0", "never", "--coverage", "--no-stand-in"]) == 0
    data = coverage.CoverageData(str(tmp_path / ".coverage"))
    data.read()
    assert 5 in (data.lines(str(script)) or [])
    assert not list(tmp_path.glob(".coverage.*"))


def test_runs_through_the_sss_server_fixture_are_measured(project: pytest.Pytester) -> None:
    """A script the real client runs through ``sss_server`` counts in pytest --cov too."""
    project.makeconftest('pytest_plugins = ["pytest_sss_emulator.server_fixtures"]\n'
                         "import pytest\n\n@pytest.fixture\ndef sss_server_options():\n"
                         "    return {'bin_dirs': ('scripts',)}\n")
    project.makepyfile(test_hello="""
from linkahead.utils.server_side_scripting import run_server_side_script

def test_via_server(sss_server):
    sss_server.configure_pylib()
    assert run_server_side_script("hello.py", "a").code == 0
""")
    result = project.runpytest_subprocess("--cov=scripts", "--cov-report=term-missing")
    result.assert_outcomes(passed=1)
    assert EXPECTED.search(_report(result)), _report(result)


@pytest.mark.parametrize("planted", ["notes", "folder"])
def test_cli_coverage_refuses_a_data_file_that_is_not_coverage_data(tmp_path: Path,
                                                                    planted: str) -> None:
    """A `.coverage` of the user's own (notes, a folder) is never replaced, and the refusal is
    one line that says what to do, before the script runs: not an "internal error"."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SSS_", "COVERAGE_"))}
    env.update(SSS_WORK_ROOT=str(tmp_path / "work"), SSS_SHARED_ROOT=str(tmp_path / "shared"))
    script = tmp_path / "hello.py"
    script.write_text(HELLO)
    script.chmod(0o755)
    data_file = tmp_path / ".coverage"
    if planted == "notes":
        data_file.write_text("my notes\n")
    else:
        data_file.mkdir()
    result = subprocess.run([sys.executable, "-m", "sss_emulator", "hello.py", "-p0", "a",
                             "--coverage", "--no-stand-in"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and result.stdout == "", result
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "is not coverage data" in lines[0], lines
    assert "internal error" not in lines[0] and "COVERAGE_FILE" in lines[0]
    if planted == "notes":
        assert data_file.read_text() == "my notes\n"
    else:
        assert list(data_file.iterdir()) == []
