"""coverage and debugpy are optional extras: without them, one line says what to install."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from sss_emulator.cli.commands import run_cli

_real_find_spec = importlib.util.find_spec


@pytest.fixture
def without(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    for name in [n for n in os.environ if n.startswith("SSS_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SSS_WORK_ROOT", str(tmp_path / "work"))
    monkeypatch.setenv("SSS_SHARED_ROOT", str(tmp_path / "shared"))
    script = tmp_path / "s.py"
    script.write_text("#!/usr/bin/env python3\nprint('ran')\n")
    script.chmod(0o755)

    def hide(package: str) -> None:
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name, *a: None if name == package else _real_find_spec(name,
                                                                                          *a))
    return hide


@pytest.mark.parametrize(("package", "option", "message"), [
    ("coverage", "--coverage", "--coverage needs coverage.py >= 7.13: pip install "
                               "'sss-emulator[coverage]'"),
    ("debugpy", "--debug-wait", "--debug-wait needs debugpy: pip install "
                                "'sss-emulator[debug]'"),
])
def test_one_line_names_the_extra(without, capsys: pytest.CaptureFixture[str], package: str,
                                  option: str, message: str) -> None:
    without(package)
    code = run_cli([option, "s.py", "--no-stand-in"])
    err = capsys.readouterr().err
    assert code == 125
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "ran" not in capsys.readouterr().out


def test_an_old_coverage_measures_what_it_can_and_says_why(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """No start-up hook (coverage < 7.13): tests still run, with one warning, unmeasured."""
    import coverage

    from sss_emulator.core.runner import run_process
    from sss_emulator.devtools import coverage as devcov
    from sss_emulator.errors import SetupError

    monkeypatch.setattr(devcov, "_startup_hook_installed", lambda: False)
    monkeypatch.setattr(devcov, "active_coverage", lambda: coverage.Coverage())
    with pytest.warns(RuntimeWarning, match=r"coverage\.py >= 7\.13"):
        assert devcov.session_runner(run_process) is run_process
    with pytest.raises(SetupError, match=r"coverage\.py >= 7\.13"):
        devcov.project_runner(run_process)
