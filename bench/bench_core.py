"""What a run costs beyond the script itself: start-up, import, and the emulator's own overhead.

    python bench/bench_core.py [--runs 200] [--cli-runs 30] [--concurrent 50]

Every ratio is measured interleaved in one process (A, B, A, B, ...), so machine noise hits both
sides alike, and compares medians:

1. ``sss-emulate minimal.bash -p0 x`` end to end vs ``python -c pass`` (goal <= 4x): start-up
   is the product for a command run by hand, in shell loops and from editors.
2. ``import sss_emulator`` and the CLI's import, in ms above ``python -c pass`` (goal <= 60 ms),
   and which of werkzeug/watchdog/aiosmtpd/asyncio/lxml a plain CLI run loads (goal: none).
3. ``Emulator.run`` of minimal.bash vs a bare ``subprocess.run`` of the same argv (goal <= 1.3x),
   without and with the LinkAhead stand-in (which a script that never calls back must not pay
   for); on the default temp dir and on a tmpfs (/dev/shm) where one exists, since the
   emulator creates and removes a working directory and a SHARED_DIR per run.
4. N runs in parallel threads, each of which must see its own working directory and SHARED_DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sss_emulator import Emulator  # noqa: E402
from sss_emulator.core.call import CallRequest, build_argv  # noqa: E402

#: Modules a run of a bash script that never calls back has no use for.
HEAVY = ("werkzeug", "watchdog", "aiosmtpd", "asyncio", "lxml", "yaml")


def _time(argv: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system, the child and what it waited for) of one run.

    On a shared machine the wall clock also counts waiting for a CPU; the CPU time does not, so
    its ratio is the steadier one when the load is high.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=True, env=env,
                   cwd=REPO)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


@dataclass(frozen=True)
class _Pair:
    """Medians of two commands run alternately: wall clock and CPU time."""

    wall_a: float
    wall_b: float
    cpu_a: float
    cpu_b: float


def _interleaved(a: Sequence[str], b: Sequence[str], runs: int,
                 env: dict[str, str] | None = None) -> _Pair:
    """``a`` and ``b`` run alternately ``runs`` times each (after one warm-up)."""
    _time(a, env), _time(b, env)
    times_a, times_b = [], []
    for _ in range(runs):
        times_a.append(_time(a, env))
        times_b.append(_time(b, env))
    return _Pair(statistics.median(t[0] for t in times_a), statistics.median(t[0] for t in times_b),
                 statistics.median(t[1] for t in times_a), statistics.median(t[1] for t in times_b))


def _cli_argv() -> list[str]:
    script = Path(sys.executable).with_name("sss-emulate")
    head = [str(script)] if script.is_file() else [sys.executable, "-m", "sss_emulator"]
    return [*head, "sample_scripts/minimal.bash", "-p0", "x"]


def _startup(runs: int, root: Path) -> None:
    env = {**os.environ, "SSS_WORK_ROOT": str(root / "work"),
           "SSS_SHARED_ROOT": str(root / "shared")}
    # Measure what an installed copy does: with bytecode caches (pip writes them), not
    # compiling every module from source as PYTHONDONTWRITEBYTECODE would make it.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "sss_emulator")],
                   check=True, env=env)
    pass_argv = [sys.executable, "-c", "pass"]
    cli = _interleaved(_cli_argv(), pass_argv, runs, env)
    print(f"sss-emulate minimal.bash -p0 x x{runs}: median {cli.wall_a * 1000:.1f} ms, "
          f"python -c pass median {cli.wall_b * 1000:.1f} ms, ratio "
          f"{cli.wall_a / cli.wall_b:.2f} (goal <= 4); CPU time ratio "
          f"{cli.cpu_a / cli.cpu_b:.2f}")
    for what in ("import sss_emulator", "import sss_emulator.cli.commands"):
        imported = _interleaved([sys.executable, "-c", what], pass_argv, runs, env)
        print(f"{what}: {(imported.wall_a - imported.wall_b) * 1000:.1f} ms above python -c "
              f"pass (goal <= 60 ms); CPU time "
              f"{(imported.cpu_a - imported.cpu_b) * 1000:.1f} ms above")
    trace = subprocess.run([sys.executable, "-X", "importtime", "-m", "sss_emulator",
                            *_cli_argv()[-3:]],
                           capture_output=True, text=True, env=env, cwd=REPO, check=True)
    loaded = {line.rsplit("|", 1)[-1].strip().split(".")[0]
              for line in trace.stderr.splitlines() if line.startswith("import time:")}
    heavy = [name for name in HEAVY if name in loaded]
    print(f"modules a plain CLI run loads from {', '.join(HEAVY)}: "
          f"{', '.join(heavy) or 'none'} (goal: none)")


def _overhead(root: Path, runs: int, stand_in: bool = False) -> None:
    em = Emulator([REPO / "sample_scripts"], work_root=root / "work",
                  shared_root=root / "shared", timeout=60, stand_in=stand_in)
    request = CallRequest("minimal.bash", positionals=("Positional0",))
    token = em.token_for("minimal.bash", em.identity)
    argv = build_argv(REPO / "sample_scripts" / "minimal.bash", token, request)
    bare_dir = root / "bare"
    bare_dir.mkdir()
    em.run(request)  # warm-up: first-use costs (lazy imports, the stand-in's socket) once
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
    print(f"Emulator.run minimal.bash x{runs} ({label}, roots in {root.parent}): median "
          f"{med_em * 1000:.2f} ms, bare subprocess.run median {med_bare * 1000:.2f} ms, "
          f"ratio {med_em / med_bare:.2f} (goal <= 1.3)")


def _concurrent(count: int) -> bool:
    with tempfile.TemporaryDirectory(prefix="sss-bench-") as tmp:
        root = Path(tmp)
        em = Emulator([REPO / "sample_scripts"], work_root=root / "work",
                      shared_root=root / "shared", timeout=60, stand_in=False)
        diag = CallRequest("administration/diagnostics.py")
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=count) as pool:
            outcomes = list(pool.map(lambda _: em.run(diag), range(count)))
        elapsed = time.perf_counter() - started
        em.close()  # cleanup may finish in the background; close() waits for it
        reports = [json.loads(o.stdout_text) for o in outcomes]
        workdirs = {r["cwd"] for r in reports}
        shared = {r["SHARED_DIR"] for r in reports}
        ok = all(o.code == 0 for o in outcomes)
        isolated = len(workdirs) == len(shared) == count
        clean = not any((root / "work").iterdir())
        print(f"{count} concurrent runs: {elapsed:.2f} s, all exit 0: {ok}, "
              f"distinct workdirs: {len(workdirs)}, distinct SHARED_DIRs: {len(shared)}, "
              f"work root empty after close(): {clean}")
        return ok and isolated and clean


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="Emulator.run repetitions")
    parser.add_argument("--cli-runs", type=int, default=30, help="process start repetitions")
    parser.add_argument("--concurrent", type=int, default=50)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sss-bench-") as tmp:
        _startup(args.cli_runs, Path(tmp))
    bases = [Path(tempfile.gettempdir())]
    if Path("/dev/shm").is_dir():
        bases.append(Path("/dev/shm"))
    for stand_in in (False, True):
        for base in bases:
            with tempfile.TemporaryDirectory(prefix="sss-bench-", dir=base) as tmp:
                _overhead(Path(tmp), args.runs, stand_in=stand_in)
    return 0 if _concurrent(args.concurrent) else 1


if __name__ == "__main__":
    sys.exit(main())
