"""What a run costs beyond the script itself: start-up, import, and the emulator's own overhead.

    python bench/bench_core.py [--runs 200] [--cli-runs 30] [--concurrent 50] [--baseline REV]
                               [--rounds 3] [--skip-startup]

Every ratio is measured interleaved in one process (A, B, A, B, ...), so machine noise hits both
sides alike, and compares medians:

1. ``sss-emulate minimal.bash -p0 x`` end to end vs ``python -c pass`` (goal <= 4x): start-up
   is the product for a command run by hand, in shell loops and from editors.
2. ``import sss_emulator`` and the CLI's import, in ms above ``python -c pass`` (goal <= 60 ms),
   and which of werkzeug/watchdog/aiosmtpd/asyncio/lxml/yaml a plain CLI run loads (goal: none).
3. ``Emulator.run`` of minimal.bash vs a bare ``subprocess.run`` of the same argv (goal <= 1.3x),
   without and with the LinkAhead stand-in (which a script that never calls back must not pay
   for); on the default temp dir and on a tmpfs (/dev/shm) where one exists, since the
   emulator creates and removes a working directory and a SHARED_DIR per run. Each also
   "quiesced": the emulator's background work (deleting finished runs' directories, making the
   next run's) is waited for outside both timings, so it cannot slow the bare run down.
4. N runs in parallel threads, each of which must see its own working directory and SHARED_DIR.

``--baseline REV`` also measures the code of git revision REV (``git archive`` into a temporary
folder), side by side: its CLI runs interleaved with ours and ``python -c pass`` in the same loop,
and its ``Emulator.run`` ratios by this same script run against that copy and against this tree,
each in a process of its own, alternately for ``--rounds`` rounds (two versions of one package
cannot share a process); ``--skip-startup`` leaves out 1. and 2.

Start-up is measured as an installed copy runs: with bytecode caches, not compiling every module
from source (``PYTHONDONTWRITEBYTECODE`` is dropped for the children). Each line gives the wall
clock ratio (the goal) and the CPU-time ratio, which waiting for a CPU on a busy machine does
not inflate.
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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sss_emulator import Emulator  # noqa: E402
from sss_emulator.core.call import CallRequest, build_argv  # noqa: E402

try:  # not in every revision --baseline may name
    from sss_emulator.core.workspace import wait_for_removals
except ImportError:  # pragma: no cover
    def wait_for_removals(timeout: float | None = None) -> bool:
        return True

#: Modules a run of a bash script that never calls back has no use for.
HEAVY = ("werkzeug", "watchdog", "aiosmtpd", "asyncio", "lxml", "yaml")
CLI_ARGS = ("sample_scripts/minimal.bash", "-p0", "x")


def _time(argv: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system, the child and what it waited for) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=True, env=env,
                   cwd=cwd)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _interleaved(commands: dict[str, tuple[Sequence[str], Path]], runs: int,
                 env: dict[str, str]) -> dict[str, tuple[float, float]]:
    """Median wall and CPU seconds of each command, all run in turn ``runs`` times (after one
    warm-up each)."""
    for argv, cwd in commands.values():
        _time(argv, env, cwd)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, (argv, cwd) in commands.items():
            samples[name].append(_time(argv, env, cwd))
    return {name: (statistics.median(s[0] for s in got), statistics.median(s[1] for s in got))
            for name, got in samples.items()}


def _env(root: Path) -> dict[str, str]:
    env = {**os.environ, "SSS_WORK_ROOT": str(root / "work"),
           "SSS_SHARED_ROOT": str(root / "shared")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPATH", None)
    # A run asks the script's Python which LinkAhead client it has, for a shell script the
    # python3 on PATH (connect/clients). As in the test suite, that is this interpreter's whether
    # or not its venv is activated: a pyenv shim first on PATH would be asked anew on every run
    # (its answer cannot be kept), which measures pyenv, not the emulator.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _startup(runs: int, root: Path, baseline: Path | None) -> None:
    env = _env(root)
    trees = {"this": REPO, **({"baseline": baseline} if baseline else {})}
    for tree in trees.values():
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "sss_emulator")],
                       check=True, env=env)
    # ``python -m sss_emulator`` is ``sss-emulate``; run from each tree, it imports that tree
    commands: dict[str, tuple[Sequence[str], Path]] = {
        name: ([sys.executable, "-m", "sss_emulator", *CLI_ARGS], tree)
        for name, tree in trees.items()}
    commands["pass"] = ([sys.executable, "-c", "pass"], REPO)
    got = _interleaved(commands, runs, env)
    wall_pass, cpu_pass = got["pass"]
    print(f"interpreter: {sys.executable} (first on the runs' PATH)")
    print(f"python -c pass x{runs}: median {wall_pass * 1000:.1f} ms wall, "
          f"{cpu_pass * 1000:.1f} ms CPU")
    for name in trees:
        wall, cpu = got[name]
        print(f"[{name}] sss-emulate minimal.bash -p0 x: median {wall * 1000:.1f} ms, ratio "
              f"{wall / wall_pass:.2f} (goal <= 4); CPU {cpu * 1000:.1f} ms, ratio "
              f"{cpu / cpu_pass:.2f}")
    for statement in ("import sss_emulator", "import sss_emulator.cli.commands"):
        commands = {name: ([sys.executable, "-c", statement], tree)
                    for name, tree in trees.items()}
        commands["pass"] = ([sys.executable, "-c", "pass"], REPO)
        got = _interleaved(commands, runs, env)
        for name in trees:
            wall, cpu = got[name]
            print(f"[{name}] {statement}: {(wall - got['pass'][0]) * 1000:.1f} ms above python "
                  f"-c pass (goal <= 60 ms); CPU {(cpu - got['pass'][1]) * 1000:.1f} ms above")
    for name, tree in trees.items():
        trace = subprocess.run([sys.executable, "-X", "importtime", "-m", "sss_emulator",
                                *CLI_ARGS], capture_output=True, text=True, env=env, cwd=tree,
                               check=True)
        loaded = {line.rsplit("|", 1)[-1].strip().split(".")[0]
                  for line in trace.stderr.splitlines() if line.startswith("import time:")}
        heavy = [module for module in HEAVY if module in loaded]
        print(f"[{name}] modules a plain CLI run loads from {', '.join(HEAVY)}: "
              f"{', '.join(heavy) or 'none'} (goal: none)")


def _overhead(root: Path, runs: int, stand_in: bool, quiesce: bool) -> tuple[float, float]:
    """Median seconds of ``Emulator.run`` and of a bare ``subprocess.run``, interleaved.

    ``quiesce``: wait for the emulator's background work (deleting finished runs' directories,
    making the next run's) between the two, outside both timings, so that it does not slow the
    bare run down; without it, the loop runs as a test suite's runs do.
    """
    em = Emulator([REPO / "sample_scripts"], work_root=root / "work",
                  shared_root=root / "shared", timeout=60, stand_in=stand_in)
    request = CallRequest("minimal.bash", positionals=("Positional0",))
    token = em.token_for("minimal.bash", em.identity)
    argv = build_argv(REPO / "sample_scripts" / "minimal.bash", token, request)
    bare_dir = root / "bare"
    bare_dir.mkdir()
    em.run(request)  # warm-up: first-use costs (lazy imports, the stand-in's sockets) once
    emulated, bare = [], []
    for _ in range(runs):
        started = time.perf_counter()
        outcome = em.run(request)
        emulated.append(time.perf_counter() - started)
        assert outcome.code == 0
        if quiesce:
            wait_for_removals()
        started = time.perf_counter()
        subprocess.run(argv, cwd=bare_dir, stdin=subprocess.DEVNULL, capture_output=True,
                       check=True)
        bare.append(time.perf_counter() - started)
        if quiesce:
            wait_for_removals()
    em.close()
    return statistics.median(emulated), statistics.median(bare)


#: The Emulator.run rows: (stand-in, quiesced) for each roots' base folder.
OVERHEAD_CASES = [(stand_in, quiesce) for stand_in in (False, True) for quiesce in (False, True)]


def _all_overheads(runs: int, label: str) -> dict[str, float]:
    """Print each Emulator.run row; return their ratios by row name."""
    bases = [Path(tempfile.gettempdir())]
    if Path("/dev/shm").is_dir():
        bases.append(Path("/dev/shm"))
    ratios = {}
    for stand_in, quiesce in OVERHEAD_CASES:
        for base in bases:
            with tempfile.TemporaryDirectory(prefix="sss-bench-", dir=base) as tmp:
                med_em, med_bare = _overhead(Path(tmp), runs, stand_in, quiesce)
            kind = "with the LinkAhead stand-in" if stand_in else "stand_in=False"
            row = f"{kind}, roots in {base}{', quiesced' if quiesce else ''}"
            ratios[row] = med_em / med_bare
            print(f"[{label}] Emulator.run minimal.bash x{runs} ({row}): median "
                  f"{med_em * 1000:.2f} ms, bare subprocess.run {med_bare * 1000:.2f} ms, ratio "
                  f"{med_em / med_bare:.2f} (goal <= 1.3)", flush=True)
    return ratios


def _overheads_side_by_side(runs: int, rounds: int, baseline: Path, env: dict[str, str]) -> None:
    """Both trees' Emulator.run rows, each tree in a process of its own, alternately."""
    got: dict[str, dict[str, list[float]]] = {"this": {}, "baseline": {}}
    for _ in range(rounds):
        for label, tree in (("this", REPO), ("baseline", baseline)):
            out = subprocess.run([sys.executable, str(tree / "bench" / "bench_core.py"),
                                  "--runs", str(runs), "--overhead-only", label],
                                 check=True, env=env, cwd=tree, capture_output=True, text=True)
            print(out.stdout, end="", flush=True)
            for row, ratio in json.loads(out.stdout.splitlines()[-1].split(" ", 1)[1]).items():
                got[label].setdefault(row, []).append(ratio)
    print(f"Emulator.run ratios, {rounds} alternating rounds (min-max, this vs baseline):")
    for row in got["this"]:
        this, base = got["this"][row], got["baseline"].get(row, [])
        print(f"  {row}: this {min(this):.2f}-{max(this):.2f}, baseline "
              f"{min(base, default=0):.2f}-{max(base, default=0):.2f}")


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
        em.close()
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


def _export(rev: str, target: Path) -> None:
    """The tree of git revision ``rev`` in ``target``, with this benchmark script in it."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    (target / "bench" / "bench_core.py").write_text(Path(__file__).read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="Emulator.run repetitions")
    parser.add_argument("--cli-runs", type=int, default=30, help="process start repetitions")
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--baseline", metavar="REV",
                        help="also measure git revision REV, side by side")
    parser.add_argument("--rounds", type=int, default=3,
                        help="with --baseline: Emulator.run rounds, the two trees alternately")
    parser.add_argument("--skip-startup", action="store_true",
                        help="measure only Emulator.run and the concurrent runs")
    parser.add_argument("--overhead-only", metavar="LABEL", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.overhead_only:  # one tree's Emulator.run rows, for --baseline (the last line: JSON)
        print("ratios", json.dumps(_all_overheads(args.runs, args.overhead_only)))
        return 0
    with tempfile.TemporaryDirectory(prefix="sss-bench-") as tmp:
        baseline = None
        if args.baseline:
            baseline = Path(tmp) / "baseline"
            baseline.mkdir()
            _export(args.baseline, baseline)
        if not args.skip_startup:
            _startup(args.cli_runs, Path(tmp), baseline)
        if baseline is None:
            _all_overheads(args.runs, "this")
        else:
            _overheads_side_by_side(args.runs, args.rounds, baseline, _env(Path(tmp)))
    return 0 if _concurrent(args.concurrent) else 1


if __name__ == "__main__":
    sys.exit(main())
