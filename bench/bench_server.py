"""The HTTP server's cost: pylib through ``sss-emulate serve`` vs the Python API, concurrency,
and the memory a large upload takes.

    python bench/bench_server.py [--runs 200] [--clients 16] [--upload-mib 1024]

1. Latency: ``run_server_side_script("minimal.bash")`` with the real pylib against a server
   subprocess, interleaved with ``Emulator.run_server_side_script`` in this process; the ratio of
   the medians is the price of HTTP (goal: <= 1.5).
2. Concurrency: N clients, each with its own connection and session, send calls at once; every
   answer must be a 200 with its own srid. Wall time vs. the same calls one after another.
3. Upload: a generated multipart body of ``--upload-mib`` MiB is streamed to the server
   (nothing is held in memory on either side); the server's peak RSS growth is printed
   (goal: < 64 MiB) with the time taken.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import statistics
import sys
import tempfile
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from serve_process import PASSWORD, login, peak_growth, start_serve  # noqa: E402  (beside this script)

from sss_emulator import Emulator  # noqa: E402

MIB = 1024 * 1024


def _post(url: str, cookie: str, fields: dict[str, str]) -> tuple[int, bytes]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
    conn.request("POST", "/scripting", urllib.parse.urlencode(fields).encode(),
                 {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    response = conn.getresponse()
    return response.status, response.read()


def bench_latency(url: str, root: Path, runs: int) -> None:
    import linkahead
    from linkahead.utils.server_side_scripting import run_server_side_script

    linkahead.configure_connection(url=url, username="admin", password=PASSWORD,
                                   password_method="plain", timeout=60)
    # stand_in=False on both sides: serve mounts the stand-in itself instead of per run
    em = Emulator([REPO / "sample_scripts"], work_root=root / "api-work",
                  shared_root=root / "api-shared", timeout=60, stand_in=False)
    for _ in range(5):  # warm up both (login, imports)
        run_server_side_script("minimal.bash", "Positional0")
        em.run_server_side_script("minimal.bash", "Positional0")
    served, direct, floor = [], [], []
    for _ in range(runs):
        started = time.perf_counter()
        response = run_server_side_script("minimal.bash", "Positional0")
        served.append(time.perf_counter() - started)
        assert response.code == 0
        started = time.perf_counter()
        outcome = em.run_server_side_script("minimal.bash", "Positional0")
        direct.append(time.perf_counter() - started)
        assert outcome.code == 0
        started = time.perf_counter()
        linkahead.Info()  # one pylib round trip that runs no script: the HTTP client's floor
        floor.append(time.perf_counter() - started)
    em.close()
    s, d, f = statistics.median(served), statistics.median(direct), statistics.median(floor)
    print(f"latency over {runs} sequential calls of minimal.bash (median):")
    print(f"  pylib -> sss-emulate serve : {s * 1000:8.2f} ms")
    print(f"  Emulator (Python API)      : {d * 1000:8.2f} ms")
    print(f"  ratio server/API           : {s / d:8.2f}   (goal <= 1.5)")
    print(f"  pylib GET /Info round trip : {f * 1000:8.2f} ms   (what any pylib call costs; "
          f"server - API - this = {(s - d - f) * 1000:.2f} ms)")


def bench_concurrency(url: str, clients: int, per_client: int) -> None:
    cookies = [login(url) for _ in range(clients)]

    def client(index: int) -> list[str]:
        srids = []
        for i in range(per_client):
            status, body = _post(url, cookies[index], {"call": "minimal.bash",
                                                       "-p0": f"c{index}-{i}"})
            assert status == 200 and b'<script code="0">' in body, body[:300]
            srids.append(re.search(rb'srid="(\w+)"', body).group(1).decode())  # type: ignore[union-attr]
        return srids

    started = time.perf_counter()
    for i in range(clients):
        client(i)
    sequential = time.perf_counter() - started
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, range(clients)))
    concurrent = time.perf_counter() - started
    srids = [s for r in results for s in r]
    assert len(set(srids)) == len(srids) == clients * per_client
    total = clients * per_client
    print(f"concurrency: {clients} clients x {per_client} calls, every answer 200 with its own "
          "srid")
    print(f"  one after another : {sequential:6.2f} s ({total / sequential:6.1f} calls/s)")
    print(f"  {clients:2d} at once        : {concurrent:6.2f} s ({total / concurrent:6.1f} calls/s,"
          f" x{sequential / concurrent:.2f}; {os.cpu_count()} cores)")


def bench_upload(url: str, pid: int, mib: int) -> None:
    cookie = login(url)
    boundary = "benchBoundary7MA4YWxkTrZu0gW"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"call\"\r\n\r\nsize.sh\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"-p0\"; "
            f"filename=\"big.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    block = (b"0123456789abcdef" * 65536)[:MIB]
    parts = urllib.parse.urlsplit(url)

    def upload() -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
        conn.putrequest("POST", "/scripting")
        conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        conn.putheader("Content-Length", str(len(head) + mib * MIB + len(tail)))
        conn.putheader("Cookie", cookie)
        conn.endheaders()
        conn.send(head)
        for _ in range(mib):
            conn.send(block)
        conn.send(tail)
        response = conn.getresponse()
        return response.status, response.read()

    growth, elapsed, (status, body), baseline = peak_growth(pid, upload)
    high = baseline + growth * 1024
    size = re.search(rb"<stdout>(\d+)", body)
    assert status == 200 and size and int(size.group(1)) == mib * MIB, body[:400]
    print(f"upload: {mib} MiB streamed in {elapsed:.1f} s ({mib / elapsed:.0f} MiB/s); the "
          f"script saw {int(size.group(1))} bytes")
    print(f"  server RSS {baseline / 1024:.1f} MiB before, peak {high / 1024:.1f} MiB: growth "
          f"{growth:.1f} MiB   (goal < 64 MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--per-client", type=int, default=5)
    parser.add_argument("--upload-mib", type=int, default=1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        root = Path(tmp)
        extra = root / "bin"
        extra.mkdir()
        (extra / "size.sh").write_text('#!/bin/sh\nstat -c %s "$2"\n')
        (extra / "size.sh").chmod(0o755)
        proc, url = start_serve(root, [REPO / "sample_scripts", extra],
                                 ["--max-body", str(args.upload_mib + 16)])
        try:
            print(f"server {url} (pid {proc.pid})")
            bench_latency(url, root, args.runs)
            bench_concurrency(url, args.clients, args.per_client)
            if args.upload_mib > 0:
                bench_upload(url, proc.pid, args.upload_mib)
        finally:
            proc.terminate()
            proc.wait(timeout=60)


if __name__ == "__main__":
    main()
