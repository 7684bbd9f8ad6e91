"""How much a FIND through pylib costs against the stand-in, compared with a trivial request.

Seeds 10,000 Sample records, then times 1,000 selective FIND queries (the kind scripts make:
look one record up by a property) and as many ``GET /Info`` round trips, all through the real
``linkahead`` client, alternately, so both see the same machine load. Goal: median query latency
<= 3x the median Info latency. Also reported: the memory the store takes per 10,000 records
(growth of the process's resident size while seeding, and the bytes Python still holds for it)
and the time pylib needs to insert 1,000 records in one container (every write is checked as the
server checks it, so this is the cost of validation too).

    python bench/bench_backend.py            # 10,000 records, 1,000 queries
    python bench/bench_backend.py --quick    # 2,000 records, 200 queries
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sss_emulator.backend import BackendServer, EntityStore, make_backend_app
from sss_emulator.backend.model import Entity, ParentRef, PropertyValue

TOKEN = '["S","PAM","bench",["administration"],[],0,0,"salt","checksum"]'


@dataclass(frozen=True)
class _Principal:
    name: str = "bench"
    realm: str = "PAM"
    roles: tuple[str, ...] = ("administration",)


def seed(store: EntityStore, records: int) -> None:
    """A RecordType with two properties and ``records`` records, inserted in one transaction."""
    model = [
        Entity(id=-1, role="Property", name="number", datatype="INTEGER"),
        Entity(id=-2, role="Property", name="label", datatype="TEXT"),
        Entity(id=-3, role="RecordType", name="Sample"),
    ]
    store.insert(model, unique_names=True)
    drafts = [
        Entity(
            id=None,
            role="Record",
            parents=[ParentRef(id=None, name="Sample")],
            properties=[
                PropertyValue(id=None, name="number", datatype=None, value=str(i)),
                PropertyValue(id=None, name="label", datatype=None, value=f"sample-{i}"),
            ],
        )
        for i in range(records)
    ]
    _answers, ok = store.insert(drafts, unique_names=False)
    assert ok, "seeding failed"


def resident_mb() -> float:
    """The process's resident set size in MB (Linux ``/proc``)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def store_memory_mb(records: int) -> tuple[float, float]:
    """(resident growth, bytes Python holds) in MB for a store seeded with ``records`` records.

    Measured in this process before the server starts: resident growth includes what the
    insert needed on the way (the allocator keeps it), the traced size only what stays.
    """
    gc.collect()
    before = resident_mb()
    store = EntityStore()
    seed(store, records)
    gc.collect()
    grown = resident_mb() - before
    del store
    gc.collect()
    tracemalloc.start()
    store = EntityStore()
    seed(store, records)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] / 1e6
    tracemalloc.stop()
    return grown, held


def insert_container_ms(linkahead: object, count: int, repeat: int = 3) -> float:
    """Median time for pylib to insert ``count`` new Sample records in one container."""
    db: Any = linkahead
    times = []
    for round_ in range(repeat):
        container = db.Container()
        for i in range(count):
            rec = db.Record().add_parent("Sample")
            rec.add_property(name="number", value=1_000_000 + round_ * count + i)
            rec.add_property(name="label", value=f"bulk-{round_}-{i}")
            container.append(rec)
        times.append(_elapsed_ms(lambda c=container: c.insert(unique=False)))
    return statistics.median(times)


def _elapsed_ms(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def median_ms(action: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``action`` in milliseconds."""
    return statistics.median(_elapsed_ms(action) for _ in range(repeat))


def interleaved_medians(
    first: Callable[[], object], second: Callable[[], object], repeat: int
) -> tuple[float, float]:
    """Medians of two actions timed alternately, so both see the same machine load."""
    a, b = [], []
    for _ in range(repeat):
        a.append(_elapsed_ms(first))
        b.append(_elapsed_ms(second))
    return statistics.median(a), statistics.median(b)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 records, 200 queries")
    args = parser.parse_args(argv)
    records, queries = (2_000, 200) if args.quick else (10_000, 1_000)
    warnings.simplefilter("ignore", DeprecationWarning)
    import linkahead

    grown, held = store_memory_mb(records)
    per = 10_000 / records

    store = EntityStore()
    started = time.perf_counter()
    seed(store, records)
    print(f"seeded {records:,} records in {time.perf_counter() - started:.1f} s")
    app = make_backend_app(
        store, authenticate=lambda token: _Principal() if token == TOKEN else None
    )
    rng = random.Random(42)
    with BackendServer(app) as srv:
        linkahead.configure_connection(url=srv.url, auth_token=TOKEN, timeout=30)
        connection = linkahead.get_connection()

        def info() -> None:
            connection.retrieve(["Info"]).read()

        def find() -> None:
            k = rng.randrange(records)
            form = rng.randrange(3)
            if form == 0:
                result = linkahead.execute_query(f"FIND Sample WITH number={k}")
            elif form == 1:
                result = linkahead.execute_query(f"FIND Sample WITH label='sample-{k}'")
            else:
                result = linkahead.execute_query(
                    f"FIND RECORD Sample WITH number={k} AND label LIKE 'sample-*'"
                )
            assert len(result) == 1

        for _ in range(20):  # warm up connection pools and caches
            info()
            find()
        info_ms, find_ms = interleaved_medians(info, find, queries)
        count_ms = median_ms(lambda: linkahead.execute_query("COUNT Sample WITH number > 10"), 50)
        bulk_ms = insert_container_ms(linkahead, 1_000)
    ratio = find_ms / info_ms
    print(f"GET /Info round trip        median {info_ms:7.3f} ms  ({queries:,} requests)")
    print(f"FIND (selective) via pylib  median {find_ms:7.3f} ms  ({queries:,} queries)")
    print(f"ratio FIND / Info           {ratio:7.2f}x  (goal <= 3x)")
    print(f"COUNT with a range scan     median {count_ms:7.3f} ms  (50 queries, informational)")
    print(f"insert 1,000 records        median {bulk_ms:7.1f} ms  (one pylib container, 3 runs)")
    print(f"memory per 10,000 records   {grown * per:7.1f} MB resident growth, "
          f"{held * per:.1f} MB held by Python")
    return 0 if ratio <= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
