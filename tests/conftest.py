"""Shared fixtures for the sss-emulator test suite."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs the same examples every time (reproducible, no example database); a developer's run
# searches at random and remembers failures.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_scripts"
EXAMPLES = REPO / "examples"

# Every front end reads SSS_* variables (the pytest plugin too, below its ini options): a
# developer's own SSS_TIMEOUT or SSS_BIN_DIRS must not change what this suite checks, so each
# test sets the ones it is about itself.
for _name in [name for name in os.environ if name.startswith("SSS_")]:
    del os.environ[_name]

# Scripts start with ``#!/usr/bin/env python3``: they must find the interpreter running the
# tests (with linkahead installed) even when its venv is not activated.
_BIN = os.path.dirname(sys.executable)
if os.environ.get("PATH", "").split(os.pathsep)[0] != _BIN:
    os.environ["PATH"] = os.pathsep.join([_BIN, os.environ.get("PATH", "")])


@pytest.fixture
def samples() -> Path:
    """The seed's example scripts (``sample_scripts/``)."""
    return SAMPLES


@pytest.fixture
def examples() -> Path:
    """Example inputs: ``examples/data`` and an example LinkAhead profile."""
    return EXAMPLES


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Our environment without SSS_* settings, with private roots: what a test gives a real
    ``sss-emulate`` process (a folder's own conftest or module may define another ``env``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    env["SSS_WORK_ROOT"] = str(tmp_path / "roots" / "work")
    env["SSS_SHARED_ROOT"] = str(tmp_path / "roots" / "shared")
    return env


@pytest.fixture
def roots(tmp_path: Path) -> dict[str, Path]:
    """Private work and shared roots for one test, so runs never leave the test's tmp dir."""
    return {"work_root": tmp_path / "work", "shared_root": tmp_path / "shared"}


@pytest.fixture
def make_script(tmp_path: Path):
    """Write an executable script into ``tmp_path/bin`` and return its path."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)

    def make(name: str, body: str, mode: int = 0o755) -> Path:
        path = bin_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
        path.chmod(mode)
        return path

    return make
