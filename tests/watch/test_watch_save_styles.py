"""One rerun per save, however the editor saves, with the default (short) debounce.

Each save here has a pause in its middle longer than any debounce (a slow disk's fsync, a big
file written in parts): a watcher that only waits for quiet reruns in the middle of the save
(an empty or missing file) and again at its end. The watcher waits for the save to be
complete instead: the file closed, the file back after vim's backup rename, the temp file
renamed over it. No timing is asserted: the runs are counted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from watch_helpers import Watcher, write_script

RUN_DONE = r"run {n} done · "
#: Longer than the old default debounce (200 ms), far below the cap (10 × debounce, ≥ 1 s).
PAUSE_S = 0.45


def _script(greeting: str) -> str:
    return f"#!/bin/bash\necho \"{greeting}\"\n"


def save_in_place(path: Path, body: str) -> None:
    """VS Code, nano, most editors: truncate and write the file itself."""
    with open(path, "w") as handle:
        handle.write(body[:12])
        handle.flush()
        time.sleep(PAUSE_S)
        handle.write(body[12:])


def save_vim(path: Path, body: str) -> None:
    """vim: rename the file to file~, write a new file, delete the backup."""
    backup = path.with_name(path.name + "~")
    os.rename(path, backup)
    time.sleep(PAUSE_S)
    with open(path, "w") as handle:
        handle.write(body)
    os.chmod(path, 0o755)
    os.unlink(backup)


def save_atomic(path: Path, body: str) -> None:
    """JetBrains, Emacs: write a temp file beside it, then rename it over the file."""
    temp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(temp, "w") as handle:
        handle.write(body[:12])
        handle.flush()
        time.sleep(PAUSE_S)
        handle.write(body[12:])
    os.chmod(temp, 0o755)
    os.replace(temp, path)


@pytest.mark.parametrize("save", [save_in_place, save_vim, save_atomic],
                         ids=["in-place", "vim", "atomic"])
def test_each_save_style_reruns_exactly_once(
        tmp_path: Path, start_watcher: Callable[..., Watcher],
        save: Callable[[Path, str], None]) -> None:
    script = write_script(tmp_path / "bin" / "greet.sh", _script("first"))
    watcher = start_watcher("watch", "bin/greet.sh")
    watcher.wait_for(RUN_DONE.format(n=1) + "exit 0")
    save(script, _script("second"))
    watcher.wait_for(r"^second$", stream="out")
    watcher.wait_for(RUN_DONE.format(n=2) + "exit 0")
    # A marker save: had the first save started two runs, this one would be run 4.
    script.write_text(_script("third"))
    watcher.wait_for(r"^third$", stream="out")
    watcher.wait_for(RUN_DONE.format(n=3) + "exit 0")
    assert watcher.interrupt() == 0
    assert len(watcher.run_headers()) == 3, watcher.transcript()
    assert watcher.out == ["first", "second", "third"]


def test_the_default_debounce_is_short(tmp_path: Path,
                                       start_watcher: Callable[..., Watcher]) -> None:
    """The default is watchexec's 50 ms (the save's completeness is awaited besides)."""
    write_script(tmp_path / "bin" / "greet.sh", _script("first"))
    watcher = start_watcher("watch", "bin/greet.sh")
    watcher.wait_for(r"\(events, debounce 50 ms\)")
    assert watcher.interrupt() == 0


def test_polling_keeps_a_quiet_time_of_two_intervals(
        tmp_path: Path, start_watcher: Callable[..., Watcher]) -> None:
    """--poll sees no close: a quiet time below two snapshots (the 50 ms default) could not
    see quiet, so two intervals are used, and the banner says so."""
    write_script(tmp_path / "bin" / "greet.sh", _script("first"))
    watcher = start_watcher("watch", "bin/greet.sh", "--poll")
    watcher.wait_for(r"\(polling, debounce 200 ms\)")
    assert watcher.interrupt() == 0
