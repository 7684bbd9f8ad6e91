"""Watch mode with --debug-wait (every run waits, or only the first with 'once') and
--coverage (each rerun adds to .coverage)."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from watch_helpers import Watcher, write_script

sys.path.insert(0, str(Path(__file__).parents[1] / "devtools"))
from dap_client import DAPClient

PY = "#!/usr/bin/env python3\nprint('version', {n})\n"
WAITING = r"waits for a debugger on ([\d.]+):(\d+)"


def _attach(watcher: Watcher, count: int) -> DAPClient:
    line = watcher.wait_for(WAITING, count=count)[-1]
    host, port = re.search(WAITING, line).groups()  # type: ignore[union-attr]
    client = DAPClient(host, int(port))
    client.attach()
    return client


@pytest.mark.parametrize("once", [False, True], ids=["every-run", "once"])
def test_debug_wait_in_watch_mode(tmp_path: Path, start_watcher: Callable[..., Watcher],
                                  once: bool) -> None:
    pytest.importorskip("debugpy")
    script = write_script(tmp_path / "bin" / "v.py", PY.format(n=1))
    wait = "--debug-wait=once:0" if once else "--debug-wait=0"
    watcher = start_watcher("bin/v.py", "--watch", wait, "--no-stand-in")
    first = _attach(watcher, 1)
    watcher.wait_for(r"^version 1$", stream="out")
    watcher.wait_for(r"run 1 done · exit 0")
    first.close()
    script.write_text(PY.format(n=2))
    if once:
        watcher.wait_for(r"^version 2$", stream="out")
        assert len(watcher.matching(WAITING)) == 1
    else:
        watcher.wait_for(WAITING, count=2)
        assert not watcher.matching(r"^version 2$", stream="out")  # it waits, not runs
        second = _attach(watcher, 2)
        watcher.wait_for(r"^version 2$", stream="out")
        second.close()
    assert watcher.interrupt() == 0


def test_coverage_in_watch_mode_adds_up(tmp_path: Path,
                                        start_watcher: Callable[..., Watcher]) -> None:
    coverage = pytest.importorskip("coverage")
    body = "#!/usr/bin/env python3\nimport sys\nif len(sys.argv) > {n}:\n    print('a')\n" \
           "else:\n    print('b')\n"
    script = write_script(tmp_path / "bin" / "c.py", body.format(n=5))
    watcher = start_watcher("bin/c.py", "--watch", "--coverage", "--no-stand-in")
    watcher.wait_for(r"run 1 done · exit 0")
    script.write_text(body.format(n=0))
    watcher.wait_for(r"run 2 done · exit 0")
    assert watcher.interrupt() == 0
    data = coverage.CoverageData(str(tmp_path / ".coverage"))
    data.read()
    assert sorted(data.lines(str(script)) or []) == [2, 3, 4, 6]


def test_snapshot_after_every_run(tmp_path: Path, start_watcher: Callable[..., Watcher]) -> None:
    script = write_script(tmp_path / "bin" / "v.py", PY.format(n=1))
    # the snapshot lies in the watched folder: writing it must not trigger a rerun
    first = start_watcher("bin/v.py", "--watch", "--no-stand-in", "--snapshot", "bin/snap",
                          "--update-snapshot")
    first.wait_for(r"snapshot: written to ")
    first.wait_for(r"watching bin/")
    script.touch()
    first.wait_for(r"snapshot: written to ", count=2)
    assert first.run_headers() == ["run 1: start", "run 2: changed bin/v.py"]
    assert first.interrupt() == 0
    watcher = start_watcher("bin/v.py", "--watch", "--no-stand-in", "--snapshot", "bin/snap")
    watcher.wait_for(r"snapshot: matches ")
    script.write_text(PY.format(n=2))
    watcher.wait_for(r"snapshot: the run of 'v.py' differs from its snapshot")
    watcher.wait_for(r"^\+version 2$")
    assert watcher.interrupt() == 0


def test_a_snapshot_in_the_watched_folder_itself_leaves_it_watched(
        tmp_path: Path, start_watcher: Callable[..., Watcher]) -> None:
    """--snapshot bin: the update keeps the script and writing the snapshot is no change, yet
    a change to the script is seen."""
    script = write_script(tmp_path / "bin" / "v.py", PY.format(n=1))
    watcher = start_watcher("bin/v.py", "--watch", "--no-stand-in", "--snapshot", "bin",
                            "--update-snapshot")
    watcher.wait_for(r"snapshot: written to ")
    watcher.wait_for(r"watching bin/")
    script.write_text(PY.format(n=2))
    watcher.wait_for(r"snapshot: written to ", count=2)
    assert watcher.run_headers() == ["run 1: start", "run 2: changed bin/v.py"]
    assert watcher.interrupt() == 0
    assert script.read_text() == PY.format(n=2)
    assert (tmp_path / "bin" / "stdout.txt").read_text() == "version 2\n"
