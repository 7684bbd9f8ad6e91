"""How much a FIND through pylib costs against the stand-in, compared with a trivial request.

Seeds 10,000 Sample records, then times 1,000 selective FIND queries (the kind scripts make:
look one record up by a property) and as many ``GET /Info`` round trips, all through the real
``linkahead`` client, alternately, so both see the same machine load. Goal: median query latency
<= 3x the median Info latency. Also reported: the memory the store takes per 10,000 records
(growth of the process's resident size while seeding, and the bytes Python still holds for it)
and the time pylib needs to insert 1,000 records in one container (every write is checked as the
server checks it, so this is the cost of validation too).

Permission checks: the same FINDs as a normal user (role ``team``: the global entity permissions
decide, and 1% of the records carry an ACL of their own, which each result is checked against)
and as ``administration`` (who may retrieve everything, so nothing is checked), interleaved.
Goal: the normal user's median at most 10% above the administrator's.

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

from sss_emulator import decisions
from sss_emulator.backend import BackendServer, EntityStore, make_backend_app
from sss_emulator.backend.access import AccessControl
from sss_emulator.backend.model import AclEntry, Entity, ParentRef, PropertyValue

TOKEN = '["S","PAM","bench",["administration"],[],0,0,"salt","checksum"]'
USER_TOKEN = '["S","PAM","user",["team"],[],0,0,"salt","checksum"]'


@dataclass(frozen=True)
class _Principal:
    name: str = "bench"
    realm: str = "PAM"
    roles: tuple[str, ...] = ("administration",)


_PRINCIPALS = {TOKEN: _Principal(), USER_TOKEN: _Principal("user", "PAM", ("team",))}


def add_acls(store: EntityStore, access: AccessControl, every: int = 100) -> int:
    """Give every ``every``-th record an ACL of its own (its owner's, plus a deny for another
    role), as entities whose owners restricted them; returns how many."""
    ids = sorted(store.ids_with_role("Record"))[::every]
    for entity_id in ids:
        access.extend_acl(entity_id, (decisions.DEFAULT_USER, decisions.DEFAULT_REALM),
                          [AclEntry("Deny", False, "guest", None, None, ("RETRIEVE:*",))])
    return len(ids)


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


def interleaved_medians(*actions: Callable[[], object], repeat: int) -> list[float]:
    """Medians of actions timed in turn, so all see the same machine load."""
    times: list[list[float]] = [[] for _ in actions]
    for _ in range(repeat):
        for action, spent in zip(actions, times, strict=True):
            spent.append(_elapsed_ms(action))
    return [statistics.median(spent) for spent in times]


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
    access = AccessControl()
    restricted = add_acls(store, access)
    app = make_backend_app(store, authenticate=_PRINCIPALS.get, access=access)
    rng = random.Random(42)
    with BackendServer(app) as srv:
        from linkahead.connection.connection import _Connection

        # one pylib connection per caller; the timed calls switch between them by swapping
        # pylib's singleton (a class attribute), so both run exactly the same client code
        slot = "_Connection__instance"
        setattr(_Connection, slot, None)
        as_user = linkahead.configure_connection(url=srv.url, auth_token=USER_TOKEN,
                                                 timeout=30)
        setattr(_Connection, slot, None)
        connection = linkahead.configure_connection(url=srv.url, auth_token=TOKEN, timeout=30)
        keys: list[tuple[int, int]] = []

        def info() -> None:
            connection.retrieve(["Info"]).read()

        def find(who: object = connection) -> None:
            setattr(_Connection, slot, who)
            if who is connection:  # the admin draws the key, the user repeats it
                keys.append((rng.randrange(records), rng.randrange(3)))
            k, form = keys[-1]
            if form == 0:
                result = linkahead.execute_query(f"FIND Sample WITH number={k}")
            elif form == 1:
                result = linkahead.execute_query(f"FIND Sample WITH label='sample-{k}'")
            else:
                result = linkahead.execute_query(
                    f"FIND RECORD Sample WITH number={k} AND label LIKE 'sample-*'"
                )
            assert len(result) == 1
            setattr(_Connection, slot, connection)

        def find_as_user() -> None:
            find(as_user)

        for _ in range(20):  # warm up connection pools and caches
            info()
            find()
            find_as_user()
        info_ms, find_ms, user_ms = interleaved_medians(info, find, find_as_user,
                                                        repeat=queries)
        count_ms = median_ms(lambda: linkahead.execute_query("COUNT Sample WITH number > 10"), 50)
        bulk_ms = insert_container_ms(linkahead, 1_000)
    ratio = find_ms / info_ms
    checks = user_ms / find_ms
    print(f"GET /Info round trip        median {info_ms:7.3f} ms  ({queries:,} requests)")
    print(f"FIND (selective) via pylib  median {find_ms:7.3f} ms  ({queries:,} queries)")
    print(f"ratio FIND / Info           {ratio:7.2f}x  (goal <= 3x)")
    print(f"FIND as a normal user       median {user_ms:7.3f} ms  (permission checks; "
          f"{restricted:,} records with an ACL)")
    print(f"ratio user / administration {checks:7.2f}x  (goal <= 1.10x: checks cost <= 10%)")
    print(f"COUNT with a range scan     median {count_ms:7.3f} ms  (50 queries, informational)")
    print(f"insert 1,000 records        median {bulk_ms:7.1f} ms  (one pylib container, 3 runs)")
    print(f"memory per 10,000 records   {grown * per:7.1f} MB resident growth, "
          f"{held * per:.1f} MB held by Python")
    return 0 if ratio <= 3 and checks <= 1.10 else 1


if __name__ == "__main__":
    sys.exit(main())
