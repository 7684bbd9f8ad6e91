"""Core overhead: the emulator's run of minimal.bash vs a bare subprocess.run of the same argv.

    python bench/bench_core.py [--runs 200] [--concurrent 50]

Both are measured interleaved in one process so machine noise hits them alike; the ratio of the
medians is the emulator's overhead (goal: <= 1.3). The emulator creates and removes a fresh
working directory and a SHARED_DIR per run, as the server does; that costs what the file system
charges for a handful of mkdir/rmdir calls, so the ratio is printed twice: with the roots on the
default temp dir and on a tmpfs (/dev/shm) where one exists. Then N runs go in parallel threads
and each must see its own working directory and SHARED_DIR.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sss_emulator import Emulator  # noqa: E402
from sss_emulator.core.call import CallRequest, build_argv  # noqa: E402


def _overhead(root: Path, runs: int, stand_in: bool = False) -> None:
    em = Emulator([REPO / "sample_scripts"], work_root=root / "work",
                  shared_root=root / "shared", timeout=60, stand_in=stand_in)
    request = CallRequest("minimal.bash", positionals=("Positional0",))
    token = em.token_for("minimal.bash", em.identity)
    argv = build_argv(REPO / "sample_scripts" / "minimal.bash", token, request)
    bare_dir = root / "bare"
    bare_dir.mkdir()
    emulated, bare = [], []
    for _ in range(runs):
        started = time.perf_counter()
        outcome = em.run(request)
        emulated.append(time.perf_counter() - started)
        assert outcome.code == 0
        started = time.perf_counter()
        subprocess.run(argv, cwd=bare_dir, stdin=subprocess.DEVNULL, capture_output=True,
                       check=True)
        bare.append(time.perf_counter() - started)
    em.close()
    med_em, med_bare = statistics.median(emulated), statistics.median(bare)
    label = "with the LinkAhead stand-in" if stand_in else "plain"
    print(f"minimal.bash x{runs} ({label}, roots in {root.parent}): emulator median "
          f"{med_em * 1000:.2f} ms, bare subprocess.run median {med_bare * 1000:.2f} ms, "
          f"ratio {med_em / med_bare:.2f} (goal <= 1.3)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--concurrent", type=int, default=50)
    args = parser.parse_args()

    bases = [Path(tempfile.gettempdir())]
    if Path("/dev/shm").is_dir():
        bases.append(Path("/dev/shm"))
    for base in bases:
        with tempfile.TemporaryDirectory(prefix="sss-bench-", dir=base) as tmp:
            _overhead(Path(tmp), args.runs)
    with tempfile.TemporaryDirectory(prefix="sss-bench-", dir=bases[-1]) as tmp:
        _overhead(Path(tmp), args.runs, stand_in=True)
    with tempfile.TemporaryDirectory(prefix="sss-bench-") as tmp:
        root = Path(tmp)
        em = Emulator([REPO / "sample_scripts"], work_root=root / "work",
                      shared_root=root / "shared", timeout=60, stand_in=False)
        diag = CallRequest("administration/diagnostics.py")
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.concurrent) as pool:
            outcomes = list(pool.map(lambda _: em.run(diag), range(args.concurrent)))
        elapsed = time.perf_counter() - started
        reports = [json.loads(o.stdout_text) for o in outcomes]
        workdirs = {r["cwd"] for r in reports}
        shared = {r["SHARED_DIR"] for r in reports}
        ok = all(o.code == 0 for o in outcomes)
        isolated = len(workdirs) == len(shared) == args.concurrent
        clean = not any((root / "work").iterdir())
        print(f"{args.concurrent} concurrent runs: {elapsed:.2f} s, all exit 0: {ok}, "
              f"distinct workdirs: {len(workdirs)}, distinct SHARED_DIRs: {len(shared)}, "
              f"work root empty afterwards: {clean}")
        return 0 if ok and isolated and clean else 1


if __name__ == "__main__":
    sys.exit(main())
