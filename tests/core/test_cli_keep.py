"""``--keep`` keeps the run's folder also when the run is interrupted, and says where."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_keep_then_ctrl_c_keeps_the_directory_and_names_it(
        make_script, roots: dict[str, Path], sig: signal.Signals) -> None:
    """A user who asked for --keep and then pressed Ctrl+C finds the folder the message names,
    with what the script had written."""
    script = make_script("long.sh", "#!/bin/bash\necho partial > \"$HOME/result.txt\"\n"
                         "echo ready\nsleep 300\n")
    env = dict(os.environ, SSS_WORK_ROOT=str(roots["work_root"]),
               SSS_SHARED_ROOT=str(roots["shared_root"]))
    proc = subprocess.Popen([sys.executable, "-m", "sss_emulator", "--keep", str(script)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig, err
    line = err.strip().splitlines()[-1]
    assert "kept working directory " in line and "removed" not in line, err
    kept = Path(line.split("kept working directory ", 1)[1])
    assert kept.parent == roots["work_root"]
    assert (kept / "result.txt").read_text() == "partial\n"
