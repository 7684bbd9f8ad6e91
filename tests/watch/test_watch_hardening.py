"""Issue 11, item 10: nothing the emulator writes triggers a run, even with TMPDIR inside a
watched folder (the stand-in's per-run files used to rerun the script forever)."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from watch_helpers import Watcher, write_script

from sss_emulator.watch.targets import targets_for

#: Calls the stand-in back (so that it starts and writes its files) and writes HOME/SHARED_DIR.
CALLER = ("#!/bin/bash\nurl=$(sed -n 's/^url *= *//p' \"$HOME/.pylinkahead.ini\" | head -1)\n"
          "echo shared > \"$SHARED_DIR/out.txt\"\necho \"called ${url:+back}\"\n")


def test_tmpdir_inside_the_watched_folder_does_not_loop(
    tmp_path: Path, start_watcher: Callable[..., Watcher], watch_env: dict[str, str]
) -> None:
    script = write_script(tmp_path / "bin" / "caller.sh", CALLER)
    tmp = tmp_path / "bin" / "tmp"
    tmp.mkdir()
    env = {k: v for k, v in watch_env.items() if k not in ("SSS_WORK_ROOT", "SSS_SHARED_ROOT")}
    env["TMPDIR"] = str(tmp)
    watcher = start_watcher("bin/caller.sh", "--watch", env=env)
    watcher.wait_for(r"run 1 done · exit 0")
    time.sleep(1.0)  # several debounce periods: a loop would have started run 2 by now
    assert any(tmp.iterdir()), "the emulator wrote its files below TMPDIR"
    script.write_text(CALLER + "# edited\n")
    watcher.wait_for(r"run 2 done · exit 0")
    assert watcher.run_headers() == ["run 1: start", "run 2: changed bin/caller.sh"], \
        watcher.transcript()
    assert watcher.interrupt() == 0


def test_every_folder_the_emulator_writes_in_is_ignored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "bin" / "tmp"))
    (tmp_path / "bin").mkdir()
    write_script(tmp_path / "bin" / "s.sh", "#!/bin/sh\n")
    targets = targets_for("bin/s.sh", [], {}, tmp_path, None)
    tmp = tmp_path / "bin" / "tmp"
    for written in ("sss-standin-abc123/store.sqlite", "sss-standin-x/mail/1.eml",
                    "sss-emulator-history-1/srid.stdout", f"sss-emulator-{os.getuid()}",
                    f"sss-emulator-{os.getuid()}/work/call-1/x", "sss-doctor-1/x.sh",
                    "sss-coverage-1/.coverage", "sss-callfile-1/work/x"):
        assert not targets.matters(str(tmp / written)), written
    assert targets.matters(str(tmp_path / "bin" / "s.sh"))
    assert targets.matters(str(tmp / "my-own-file.txt"))
