"""Fixtures of the watch-mode tests: private roots and watchers that are always stopped."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest
from watch_helpers import Watcher


@pytest.fixture
def watch_env(tmp_path: Path) -> dict[str, str]:
    """Our environment without SSS_* settings, with private work and shared roots."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    env["SSS_WORK_ROOT"] = str(tmp_path / "roots" / "work")
    env["SSS_SHARED_ROOT"] = str(tmp_path / "roots" / "shared")
    return env


@pytest.fixture
def start_watcher(tmp_path: Path, watch_env: dict[str, str]) -> Iterator[Callable[..., Watcher]]:
    """Start watchers in ``tmp_path``; any still running at the end are killed."""
    started: list[Watcher] = []

    def start(*args: str, env: dict[str, str] | None = None,
              stdin: int | IO[bytes] | None = subprocess.DEVNULL) -> Watcher:
        watcher = Watcher(list(args), tmp_path, env or watch_env, stdin=stdin)
        started.append(watcher)
        return watcher

    yield start
    for watcher in started:
        watcher.kill()


