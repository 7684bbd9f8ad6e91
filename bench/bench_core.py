"""What a run costs beyond the script itself: start-up, the emulator's own overhead, and which
LinkAhead clients accept the ini a run gets.

    python bench/bench_core.py [--runs 200] [--cli-runs 30] [--concurrent 50] [--baseline REV]
                               [--rounds 3] [--venv DIR] [--skip-startup] [--skip-clients]

Every ratio is measured interleaved in one process (A, B, A, B, ...), so machine noise hits both
sides alike, and compares medians; the machine's load (``/proc/loadavg``) is printed with each.

1. Start-up as a user meets it: this tree installed regularly (``pip install .``, not editable)
   into a temporary venv made with the ``python3`` on ``PATH`` (``--venv DIR`` reuses one), its
   ``sss-emulate`` called by absolute path with the user's own ``PATH`` (where ``python3`` may
   be a pyenv shim), and again with the venv's ``bin`` first on ``PATH``, in a folder holding
   ``bin/minimal.bash``: ``sss-emulate bin/minimal.bash -p0 x`` and ``sss-emulate --bin-dir bin
   minimal.bash -p0 x``, each against that venv's ``python -c pass`` (goal <= 4x), next to two
   floors: the standard library modules a plain run loads, imported alone, and those a
   hand-written emulation of the call needs (``MINIMAL``). Also which of
   werkzeug/watchdog/aiosmtpd/asyncio/lxml/yaml a plain run loads (goal: none).
2. ``Emulator.run`` of minimal.bash vs a bare ``subprocess.run`` of the same argv (goal <= 1.3x),
   without and with the LinkAhead stand-in (which a script that never calls back must not pay
   for); on the default temp dir and on a tmpfs (/dev/shm) where one exists, since the
   emulator creates and removes a working directory and a SHARED_DIR per run. Each also
   "quiesced": the emulator's background work (deleting finished runs' directories, making the
   next run's) is waited for outside both timings; without it, that work competes with the
   loop as it does in a pytest session.
3. N runs in parallel threads, each of which must see its own working directory and SHARED_DIR.
4. The ini a run gets is accepted by each client: ``caosdb`` 0.12 (the old package, which reads
   ``~/.pycaosdb.ini``), ``linkahead`` 0.20 (its schema refuses ``[Email]``) and the newest
   ``linkahead`` (which needs ``[Email]`` to mail), each with ``jsonschema`` (without it pylib
   does not validate its ini) in a venv of its own: a script of that venv imports the client,
   queries the stand-in and mails (where the client can), run by the installed ``sss-emulate``.

``--baseline REV`` also measures the code of git revision REV (``git archive`` into a temporary
folder), side by side: installed into a venv of its own, its command lines run interleaved with
ours and ``python -c pass`` in the same loop, and its ``Emulator.run`` ratios by this same script
run against that copy and against this tree, each in a process of its own, alternately for
``--rounds`` rounds (two versions of one package cannot share a process).

Each start-up line gives the wall clock ratio (the goal) and the CPU-time ratio, which waiting
for a CPU on a busy machine does not inflate.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
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

#: What a hand-written emulation of one call needs (start the script, make the token's JSON
#: and checksum, make and remove the directories, wait with a timeout): the start-up floor of
#: any emulator written with the standard library.
MINIMAL = ("subprocess", "json", "hmac", "hashlib", "shutil", "tempfile", "threading")
#: Modules a run of a bash script that never calls back has no use for.
HEAVY = ("werkzeug", "watchdog", "aiosmtpd", "asyncio", "lxml", "yaml")


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


def _load() -> str:
    try:
        return "load " + " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "load unknown"


def _install(tree: Path, venv: Path) -> Path:
    """``tree`` installed as users install it (not editable) into a new venv made with the
    ``python3`` on ``PATH``; returns the venv's ``bin``."""
    python3 = shutil.which("python3") or sys.executable
    source = venv.with_name(venv.name + "-source")  # a copy: pip builds in the tree it is given
    shutil.copytree(tree, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "__pycache__", "build", "*.egg-info"))
    subprocess.run([python3, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(source)],
                               capture_output=True, text=True)
    if installed.returncode != 0:
        sys.exit(f"pip install {tree} failed:\n{installed.stderr}")
    return venv / "bin"


def _startup(runs: int, root: Path, baseline: Path | None, venv: Path | None) -> Path:
    """The two command lines of each installed tree against ``python -c pass``; returns the
    installed ``bin`` of this tree."""
    bins = {"this": venv / "bin" if venv else _install(REPO, root / "venv")}
    if baseline is not None:
        bins["baseline"] = _install(baseline, root / "venv-baseline")
    folder = root / "cli"
    (folder / "bin").mkdir(parents=True)
    shutil.copy2(REPO / "sample_scripts" / "minimal.bash", folder / "bin" / "minimal.bash")
    user_env = {**os.environ, "SSS_WORK_ROOT": str(root / "work"),
                "SSS_SHARED_ROOT": str(root / "shared")}
    user_env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: with bytecode caches
    user_env.pop("PYTHONPATH", None)
    lines = {"sss-emulate bin/minimal.bash -p0 x": ["bin/minimal.bash", "-p0", "x"],
             "sss-emulate --bin-dir bin minimal.bash -p0 x":
                 ["--bin-dir", "bin", "minimal.bash", "-p0", "x"]}
    this_bin = bins["this"]
    for setting, env in (
            ("the user's PATH", user_env),
            ("the venv's bin first on PATH",
             {**user_env, "PATH": f"{this_bin}{os.pathsep}{user_env.get('PATH', '')}"})):
        python3 = shutil.which("python3", path=env.get("PATH"))
        print(f"start-up with {setting} (python3 there: {python3}), {_load()}:", flush=True)
        commands: dict[str, tuple[Sequence[str], Path]] = {
            "pass": ([str(this_bin / "python"), "-c", "pass"], folder),
            "floor": (_stdlib_floor(this_bin, env, folder), folder),
            "minimal": ([str(this_bin / "python"), "-c", f"import {', '.join(MINIMAL)}"],
                        folder)}
        for name, bin_dir in bins.items():
            for line, args in lines.items():
                commands[f"[{name}] {line}"] = ([str(bin_dir / "sss-emulate"), *args], folder)
        got = _interleaved(commands, runs, env)
        wall_pass, cpu_pass = got.pop("pass")
        print(f"  python -c pass x{runs}: median {wall_pass * 1000:.1f} ms wall, "
              f"{cpu_pass * 1000:.1f} ms CPU")
        wall, cpu = got.pop("minimal")
        print(f"  python -c 'import {', '.join(MINIMAL)}' (a hand-written emulation's "
              f"modules): median {wall * 1000:.1f} ms, ratio {wall / wall_pass:.2f}; "
              f"CPU ratio {cpu / cpu_pass:.2f}")
        wall, cpu = got.pop("floor")
        print(f"  floor: python -c 'import <the {commands['floor'][0][-1].count('try:')} "
              f"standard library modules a plain run loads>': median {wall * 1000:.1f} ms, "
              f"ratio {wall / wall_pass:.2f}; CPU ratio {cpu / cpu_pass:.2f}")
        for name, (wall, cpu) in got.items():
            print(f"  {name}: median {wall * 1000:.1f} ms, ratio {wall / wall_pass:.2f} (goal "
                  f"<= 4); CPU {cpu * 1000:.1f} ms, ratio {cpu / cpu_pass:.2f}", flush=True)
        print(f"  ({_load()} after)")
    for name, bin_dir in bins.items():
        loaded = {module.split(".")[0] for module in _loaded(bin_dir, user_env, folder)}
        heavy = [module for module in HEAVY if module in loaded]
        print(f"[{name}] modules a plain CLI run loads from {', '.join(HEAVY)}: "
              f"{', '.join(heavy) or 'none'} (goal: none)")
    return this_bin


def _loaded(bin_dir: Path, env: dict[str, str], cwd: Path, *args: str) -> list[str]:
    """The modules ``python -X importtime`` ARGS (default: a plain run of minimal.bash) loads,
    in order."""
    argv = args or ("-m", "sss_emulator", "bin/minimal.bash", "-p0", "x")
    trace = subprocess.run([str(bin_dir / "python"), "-X", "importtime", *argv],
                           capture_output=True, text=True, env=env, cwd=cwd, check=True)
    return [line.rsplit("|", 1)[-1].strip() for line in trace.stderr.splitlines()
            if line.startswith("import time:") and not line.rstrip().endswith("package")]


def _stdlib_floor(bin_dir: Path, env: dict[str, str], cwd: Path) -> list[str]:
    """``python -c "import …"`` of the standard library modules a plain run loads that
    ``python -c pass`` does not: what the run costs before any line of ours runs (typing,
    dataclasses and its inspect, pathlib, subprocess, json, hashlib, …)."""
    startup = set(_loaded(bin_dir, env, cwd, "-c", "pass"))
    ours = ("sss_emulator", "runpy")  # runpy: only for -m, which the console script skips
    wanted = dict.fromkeys(m for m in _loaded(bin_dir, env, cwd)
                           if m not in startup and not m.startswith(ours) and "." not in m
                           and not m.startswith("_"))
    # as the run does: a module another platform's (nt, msvcrt) is tried and skipped
    code = "".join(f"try:\n import {m}\nexcept ImportError:\n pass\n" for m in wanted)
    return [str(bin_dir / "python"), "-c", code]


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


#: Each client as pip installs it (with jsonschema: without it pylib does not validate its ini),
#: the module a script imports, and whether it mails through ``[Email]``.
CLIENTS = (("caosdb[jsonschema]==0.12.0", "caosdb", False),
           ("linkahead[jsonschema]==0.20.0", "linkahead", False),
           ("linkahead[jsonschema]", "linkahead", True))
CLIENT_SCRIPT = """#!{python}
import sys
import {module} as db
from {module}.configuration import get_config
db.configure_connection(auth_token=sys.argv[1].partition("=")[2])
sections = sorted(get_config().sections())
print("records:", db.execute_query("COUNT Record"), "ini sections:", ",".join(sections))
if {mails}:
    from linkahead.utils.email import send_email
    send_email("from the bench", to="someone@example.org", from_address="bench@example.org")
"""


def _clients(root: Path, bin_dir: Path) -> bool:
    """The installed ``sss-emulate`` runs a script of each client's venv; True if every one
    imported its client (which validates the run's ini), reached the stand-in, and mailed."""
    ok = True
    for requirement, module, mails in CLIENTS:
        venv = root / "clients" / requirement.replace("[jsonschema]", "").replace("==", "-")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        installed = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", requirement],
                                   capture_output=True, text=True)
        if installed.returncode != 0:
            print(f"client {requirement}: not installed ({installed.stderr.strip()[-200:]})")
            ok = False
            continue
        version = subprocess.run([str(venv / "bin" / "python"), "-c", "import importlib."
                                  f"metadata as m; print(m.version({module.split('.')[0]!r}))"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        scripts = venv / "scripts"
        scripts.mkdir()
        script = scripts / "check_client.py"
        script.write_text(CLIENT_SCRIPT.format(python=venv / "bin" / "python", module=module,
                                               mails=mails))
        script.chmod(0o755)
        env = {**os.environ, "SSS_WORK_ROOT": str(root / "work"),
               "SSS_SHARED_ROOT": str(root / "shared")}
        done = subprocess.run([str(bin_dir / "sss-emulate"), "--bin-dir", str(scripts),
                               "check_client.py", "--format", "json"], capture_output=True,
                              text=True, env=env, cwd=root)
        try:
            outcome = json.loads(done.stdout)
        except ValueError:
            outcome = {}
        passed = (done.returncode == 0 and outcome.get("code") == 0
                  and "records: 0" in outcome.get("stdout", "")
                  and len(outcome.get("mails", [])) == int(mails))
        ok = ok and passed
        detail = (outcome.get("stdout", "").strip() or done.stderr.strip())[-300:]
        print(f"client {module} {version}: {'accepts' if passed else 'REFUSES'} the run's ini "
              f"({detail}; mails captured: {len(outcome.get('mails', []))})", flush=True)
    return ok


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
    parser.add_argument("--venv", type=Path, metavar="DIR",
                        help="a venv this tree is already installed in (not editable)")
    parser.add_argument("--skip-startup", action="store_true",
                        help="leave out the start-up lines and the clients' check")
    parser.add_argument("--skip-clients", action="store_true",
                        help="leave out the clients' check (it installs three clients)")
    parser.add_argument("--overhead-only", metavar="LABEL", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.overhead_only:  # one tree's Emulator.run rows, for --baseline (the last line: JSON)
        print("ratios", json.dumps(_all_overheads(args.runs, args.overhead_only)))
        return 0
    ok = True
    with tempfile.TemporaryDirectory(prefix="sss-bench-") as tmp:
        baseline = None
        if args.baseline:
            baseline = Path(tmp) / "baseline"
            baseline.mkdir()
            _export(args.baseline, baseline)
        if not args.skip_startup:
            bin_dir = _startup(args.cli_runs, Path(tmp), baseline, args.venv)
            if not args.skip_clients:
                ok = _clients(Path(tmp), bin_dir)
        print(f"Emulator.run ({_load()}):", flush=True)
        if baseline is None:
            _all_overheads(args.runs, "this")
        else:
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            _overheads_side_by_side(args.runs, args.rounds, baseline, env)
        print(f"({_load()} after)")
    return 0 if _concurrent(args.concurrent) and ok else 1


if __name__ == "__main__":
    sys.exit(main())
