"""The seam watch mode stops runs through: ``cancel`` of ``Emulator.run`` / ``run_process``."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from watch_helpers import wait_gone, write_script

from sss_emulator.core.call import request_from_form
from sss_emulator.core.runner import RunCancelled, StreamSink, run_process
from sss_emulator.invocation import Emulator

LONG = "#!/bin/bash\nsleep 300 &\necho \"$!\" > \"$SHARED_DIR/child\"\necho started\nwait\n"


def _cancel_on_output(cancel: threading.Event, seen: threading.Event) -> StreamSink:
    """Cancel from the output thread as soon as the script says it started."""

    def sink(chunk: bytes) -> None:
        if b"started" in chunk:
            seen.set()
            cancel.set()

    return sink


def test_cancel_stops_the_group_and_removes_the_workdir(
    tmp_path: Path, roots: dict[str, Path]
) -> None:
    """Setting the event from another thread kills script and child; the workdir is removed."""
    script = write_script(tmp_path / "bin" / "long.sh", LONG)
    emulator = Emulator(bin_dirs=[script.parent], stand_in=False, **roots)
    cancel, seen = threading.Event(), threading.Event()
    with pytest.raises(RunCancelled):
        emulator.run(request_from_form([("call", "long.sh")]),
                     on_stdout=_cancel_on_output(cancel, seen), cancel=cancel)
    assert seen.is_set()
    assert list(roots["work_root"].iterdir()) == []
    child = int(next(roots["shared_root"].iterdir()).joinpath("child").read_text())
    assert wait_gone(child)


def test_without_cancel_a_run_ends_normally(tmp_path: Path) -> None:
    """An unset event changes nothing: the process runs to its end and reports its code."""
    result = run_process(["/bin/sh", "-c", "echo ok; exit 3"], cwd=tmp_path, env={},
                         timeout=30, cancel=threading.Event())
    assert (result.returncode, result.stdout) == (3, b"ok\n")


def test_timeout_still_applies_with_a_cancel_event(tmp_path: Path) -> None:
    """The cancel-aware wait keeps the timeout: a hanging process is stopped and reported."""
    result = run_process(["/bin/sh", "-c", "sleep 300"], cwd=tmp_path, env={}, timeout=0.3,
                         cancel=threading.Event())
    assert result.timed_out and result.returncode is None
