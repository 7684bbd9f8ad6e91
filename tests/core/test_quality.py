"""The code stays ruff-clean and passes mypy strict (the checks a contributor runs by hand)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_ruff_is_clean() -> None:
    """ruff check . reports nothing."""
    result = _run(sys.executable, "-m", "ruff", "check", ".", "--no-cache",
                  "--output-format", "concise")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean(tmp_path: Path) -> None:
    """mypy --strict over sss_emulator and the plugin (pyproject's [tool.mypy])."""
    result = _run(sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"))
    assert result.returncode == 0, result.stdout + result.stderr
