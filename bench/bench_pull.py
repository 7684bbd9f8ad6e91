"""What ``sss-emulate pull`` costs, and whether its memory grows with the records it pulls.

Seeds an ``sss-emulate serve`` with a small model and N Sample records (each referring to one
of 100 Person records), then pulls ``FIND Sample`` with ``--depth 1`` from it, once for
1,000 and once for 10,000 records, side by side in one run. Reported per size: wall time,
records per second, the pull process's peak resident size (``ru_maxrss`` of that child) and
the seed's size. Goal: the peak for 10,000 records is about the peak for 1,000 (pulled data is
streamed to the file; only ids are remembered), i.e. a ratio close to 1.

    python bench/bench_pull.py            # 1,000 and 10,000 records
    python bench/bench_pull.py --quick    # 500 and 2,000 records
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from serve_process import PASSWORD, start_serve

MODEL = """
Person:
  obligatory_properties:
    email: {datatype: TEXT}
Sample:
  recommended_properties:
    number: {datatype: INTEGER}
    label: {datatype: TEXT}
    owner: {datatype: Person}
"""


def write_records(path: Path, records: int) -> None:
    """100 people and ``records`` samples, each owned by one of them."""
    with path.open("w") as out:
        for person in range(100):
            out.write(f"- {{name: p{person}, parents: [Person], "
                      f"properties: {{email: p{person}@example.org}}}}\n")
        for i in range(records):
            out.write(f"- {{name: s{i}, parents: [Sample], properties: {{number: {i}, "
                      f"label: sample-{i}, owner: p{i % 100}}}}}\n")


def pull_once(root: Path, records: int) -> tuple[float, int, int]:
    """Serve ``records`` samples and pull them: (seconds, peak RSS in KiB, seed bytes)."""
    folder = root / f"n{records}"
    folder.mkdir()
    (folder / "model.yml").write_text(MODEL)
    write_records(folder / "records.yml", records)
    (folder / "bin").mkdir()
    server, url = start_serve(folder, [folder / "bin"], extra=[
        "--data", str(folder / "model.yml"), "--data", str(folder / "records.yml")])
    try:
        (folder / "pw").write_text(PASSWORD)
        (folder / "pw").chmod(0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "sss_emulator", "pull", "--server-url", url, "--user",
             "admin", "--password-file", str(folder / "pw"), "FIND Sample",
             "-o", str(folder / "seed.xml")],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _pid, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        assert process.stderr is not None
        errors = process.stderr.read().decode()
        process.stderr.close()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"pull failed:\n{errors}")
        return elapsed, int(usage.ru_maxrss), (folder / "seed.xml").stat().st_size
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 and 2,000 records")
    args = parser.parse_args()
    small, large = (500, 2_000) if args.quick else (1_000, 10_000)
    with tempfile.TemporaryDirectory(prefix="bench-pull-") as tmp:
        rows = [(n, *pull_once(Path(tmp), n)) for n in (small, large)]
    print(f"{'records':>8} {'seconds':>8} {'records/s':>10} {'peak RSS MiB':>13} {'seed MiB':>9}")
    for n, seconds, peak_kib, size in rows:
        print(f"{n:>8} {seconds:>8.2f} {n / seconds:>10.0f} {peak_kib / 1024:>13.1f} "
              f"{size / 2**20:>9.2f}")
    (_, t_small, m_small, _), (_, t_large, m_large, _) = rows
    print(f"peak RSS {large:,} / {small:,} records: {m_large / m_small:.2f}x "
          f"(goal: about 1); time: {t_large / t_small:.2f}x for {large // small}x the records")


if __name__ == "__main__":
    main()
