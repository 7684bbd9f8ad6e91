"""The example script repository (examples/script_repo) passes with the plugin, as users run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2] / "examples" / "script_repo"


def test_example_script_repository_passes_under_xdist() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:hypothesispytest", "-p", "no:benchmark",
         "-p", "xdist", "-n", "2", str(REPO)],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = proc.stdout.strip().splitlines()[-1]
    assert summary.startswith("12 passed"), summary
