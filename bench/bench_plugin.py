"""pytest plugin speed: in-process vs subprocess runs, and a script test suite with -n 2 vs serial.

    python bench/bench_plugin.py [--runs 100] [--tests 200]

1. A trivial Python script is run ``--runs`` times through the plugin's emulator in mode
   ``subprocess`` and in mode ``inprocess``, interleaved so machine noise hits both alike; the
   ratio of the medians is printed (goal: in-process at least 5x faster).
2. A generated suite of ``--tests`` tests, each running a script through the ``sss`` fixture, is
   run with pytest serially and with ``-n 2`` (pytest-xdist); both wall times and their ratio
   are printed, and both runs must pass every test (the suite shares no state between tests).
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "pytest_plugin"))

from pytest_sss_emulator import PytestEmulator  # noqa: E402

from sss_emulator.invocation import Emulator  # noqa: E402

TRIVIAL = "#!/usr/bin/env python3\nimport sys\nprint('hello', sys.argv[-1])\n"


def _no_stand_in() -> dict[str, Any]:
    """Measure the runners, not the LinkAhead stand-in (where the emulator has one)."""
    return {"stand_in": False} if "stand_in" in inspect.signature(Emulator).parameters else {}


def bench_modes(root: Path, runs: int) -> float:
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "trivial.py").write_text(TRIVIAL)
    (bin_dir / "trivial.py").chmod(0o755)
    emulators = {
        mode: PytestEmulator([bin_dir], mode=mode, timeout=60, work_root=root / mode / "work",
                             shared_root=root / mode / "shared", **_no_stand_in())
        for mode in ("subprocess", "inprocess")
    }
    times: dict[str, list[float]] = {mode: [] for mode in emulators}
    for index in range(runs):
        for mode, emulator in emulators.items():
            started = time.perf_counter()
            outcome = emulator.run_server_side_script("trivial.py", str(index))
            times[mode].append(time.perf_counter() - started)
            assert outcome.stdout == f"hello {index}\n", (mode, outcome.report())
    sub, inp = (statistics.median(times[m]) for m in ("subprocess", "inprocess"))
    print(f"[modes] {runs} runs of a trivial Python script (median per run)")
    print(f"  subprocess: {sub * 1000:8.2f} ms   (total {sum(times['subprocess']):.2f} s)")
    print(f"  inprocess:  {inp * 1000:8.2f} ms   (total {sum(times['inprocess']):.2f} s)")
    ratio = sub / inp
    print(f"  in-process is {ratio:.1f}x faster (goal >= 5x): "
          f"{'met' if ratio >= 5 else 'NOT met'}")
    return ratio


def _write_suite(root: Path, tests: int) -> None:
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "echo.sh").write_text('#!/bin/bash\nprintf "%s\\n" "${@:2}"\n'
                                     'echo done > "$SHARED_DIR/out.txt"\n')
    (bin_dir / "echo.sh").chmod(0o755)
    (root / "pytest.ini").write_text("[pytest]\nsss_bin_dirs = bin\n"
                                     "addopts = -p no:cacheprovider\n")
    (root / "test_generated.py").write_text(textwrap.dedent(f"""
        import pytest

        @pytest.mark.parametrize("index", range({tests}))
        def test_script(sss, index):
            res = sss.run_server_side_script("echo.sh", str(index), opt="v")
            assert res.code == 0
            assert res.stdout == f"--opt=v\\n{{index}}\\n"
            assert res.shared_files["out.txt"].read_text() == "done\\n"
    """))


def _run_suite(root: Path, extra: list[str], tests: int) -> float:
    started = time.perf_counter()
    # Plugins this repository's dev environment has but a script repository would not.
    unrelated = ["-p", "no:randomly", "-p", "no:hypothesispytest", "-p", "no:benchmark"]
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", *unrelated, *extra],
                          cwd=root, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr
    if proc.returncode != 0 or f"{tests} passed" not in last:
        raise SystemExit(f"suite failed with {extra}: {last}\n{proc.stdout[-3000:]}")
    return elapsed


def bench_suite(root: Path, tests: int) -> float:
    _write_suite(root, tests)
    serial = _run_suite(root, ["-p", "no:xdist"], tests)
    parallel = _run_suite(root, ["-p", "xdist", "-n", "2"], tests)
    print(f"[suite] {tests} generated script tests (wall time, pytest start-up included)")
    print(f"  serial:   {serial:7.2f} s")
    print(f"  -n 2:     {parallel:7.2f} s")
    ratio = serial / parallel
    print(f"  -n 2 is {ratio:.2f}x the speed of serial (2 cores)")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--tests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-plugin-") as tmp:
        bench_modes(Path(tmp) / "modes", args.runs)
        bench_suite(Path(tmp) / "suite", args.tests)


if __name__ == "__main__":
    main()
