"""How fast does watch mode react? Time from a file write to the start of the rerun.

Starts a real watcher (``python -m sss_emulator … --watch``) on a temp folder, then writes an
uploaded input file N times, one change at a time; the script prints a line the moment it starts,
and the time from just before the write to that line's arrival is one sample. Prints the median
(and spread) next to the configured debounce; the goal is ``median <= debounce + 100 ms``.

    python bench/bench_watch.py                       # 20 changes, debounce 200 ms
    python bench/bench_watch.py --debounce-ms 50 --changes 40
    python bench/bench_watch.py --poll                # the polling observer instead of inotify
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

SCRIPT = "#!/bin/bash\necho \"started $(cat \"${@: -1}\")\"\n"
GOAL_SLACK_MS = 100.0
WAIT_S = 30.0


def _pump(stream: IO[bytes], lines: queue.Queue[tuple[float, str]]) -> None:
    for raw in stream:
        lines.put((time.perf_counter(), raw.decode(errors="replace").rstrip("\n")))


def _expect(lines: queue.Queue[tuple[float, str]], wanted: str) -> float:
    """Arrival time of the first line equal to ``wanted`` (others are skipped)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            arrived, line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if line == wanted:
            return arrived
    raise SystemExit(f"bench: no line {wanted!r} within {WAIT_S:.0f}s; is the watcher running?")


def measure(debounce_ms: int, changes: int, poll: bool) -> list[float]:
    """Latencies in milliseconds, one per change."""
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as folder:
        root = Path(folder)
        (root / "bin").mkdir()
        script = root / "bin" / "stamp.sh"
        script.write_text(SCRIPT)
        script.chmod(0o755)
        data = root / "data.txt"
        data.write_text("0")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
        env.update(SSS_WORK_ROOT=str(root / "work"), SSS_SHARED_ROOT=str(root / "shared"))
        argv = [sys.executable, "-m", "sss_emulator", "watch", "bin/stamp.sh", "-p0",
                "@data.txt", "--debounce-ms", str(debounce_ms), *(["--poll"] if poll else [])]
        proc = subprocess.Popen(argv, cwd=root, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        lines: queue.Queue[tuple[float, str]] = queue.Queue()
        threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
        try:
            _expect(lines, "started 0")
            time.sleep(0.5)  # let run 1 finish and its folders go before the first sample
            samples = []
            for n in range(1, changes + 1):
                written = time.perf_counter()
                data.write_text(str(n))
                samples.append((_expect(lines, f"started {n}") - written) * 1000)
                time.sleep(0.1)  # the run ends; the next write is a separate change
            return samples
        finally:
            proc.terminate()
            proc.wait(timeout=WAIT_S)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debounce-ms", type=int, default=200)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--poll", action="store_true", help="use the polling observer")
    args = parser.parse_args()
    samples = measure(args.debounce_ms, args.changes, args.poll)
    median = statistics.median(samples)
    goal = args.debounce_ms + GOAL_SLACK_MS
    print(f"watch latency, file write -> rerun start ({'polling' if args.poll else 'inotify'}, "
          f"{len(samples)} changes)")
    print(f"  configured debounce   {args.debounce_ms:8.1f} ms")
    print(f"  median                {median:8.1f} ms   (min {min(samples):.1f}, "
          f"max {max(samples):.1f})")
    print(f"  median - debounce     {median - args.debounce_ms:8.1f} ms")
    print(f"  goal (debounce + {GOAL_SLACK_MS:.0f})  {goal:8.1f} ms   "
          f"{'met' if median <= goal else 'MISSED'}")


if __name__ == "__main__":
    main()
