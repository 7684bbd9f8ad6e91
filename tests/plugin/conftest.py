"""Helpers for testing the pytest plugin with ``pytester``."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

ECHO_PY = '''\
#!/usr/bin/env python3
"""Print what the server handed over: argv after the token, cwd, HOME, SHARED_DIR."""
import os
import sys

args = [a for a in sys.argv[1:] if not a.startswith("--auth-token=")]
print("args:", " ".join(args))
print("cwd==HOME:", os.getcwd() == os.environ["HOME"])
print("shared:", os.path.isdir(os.environ["SHARED_DIR"]))
print("to stderr", file=sys.stderr)
with open(os.path.join(os.environ["SHARED_DIR"], "out.txt"), "w") as out:
    out.write("written\\n")
sys.exit(int(os.environ.get("ECHO_EXIT", "0")))
'''

MINIMAL_BASH = '#!/bin/bash\nprintf "%s" "$(basename "$0")"\nprintf " %s" "${@:2}"\nprintf "\\n"\n'


@pytest.fixture
def write_bin(pytester: pytest.Pytester) -> Callable[..., Path]:
    """Write executable scripts into ``<pytester dir>/<folder>`` and return that folder."""

    def write(folder: str = "bin", **scripts: str) -> Path:
        base = pytester.path / folder
        base.mkdir(exist_ok=True)
        for name, body in scripts.items():
            path = base / name.replace("__", "/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(body) if not body.startswith("#!") else body)
            path.chmod(0o755)
        return base

    return write


@pytest.fixture
def standard_bin(write_bin: Callable[..., Path]) -> Path:
    """``bin/`` with ``echo.py`` and ``minimal.bash``."""
    return write_bin(**{"echo.py": ECHO_PY, "minimal.bash": MINIMAL_BASH})


@pytest.fixture(autouse=True)
def _lean_inner_runs(request: pytest.FixtureRequest) -> None:
    """Inner pytest runs skip plugins they do not need.

    pytester restores ``sys.modules`` after each in-process run, so hypothesis' plugin would
    import (and assertion-rewrite) all of hypothesis again in every run: seconds each.
    """
    if "pytester" in request.fixturenames:
        monkeypatch = request.getfixturevalue("monkeypatch")
        request.getfixturevalue("pytester")
        monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest -p no:benchmark")
