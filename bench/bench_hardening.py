"""The memory bounds of issue 11: what a huge output and a huge bad body cost ``serve``.

    python bench/bench_hardening.py [--stdout-mb 200] [--body-mib 400] [--runs 3]

A ``sss-emulate serve`` subprocess is measured from outside (``/proc/<pid>/status``: peak
RSS, reset before each step through ``clear_refs``):

1. stdout: a script prints ``--stdout-mb`` MB; the client reads the answer and throws it away.
   Repeated ``--runs`` times, so that the history's share shows (it spools outputs to disk).
2. bad bodies of ``--body-mib`` MiB, streamed by the client: XML garbage to the stand-in's
   ``POST /Entity``, and a urlencoded body to ``/scripting``, each with a Content-Length and
   chunked (no length; also to ``/login``). Each must be refused (413) without the server
   holding the body: a chunked one once it passes its limit (64 MiB of XML at the stand-in,
   16 MiB for a form field), counted into a spool on the way.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import select
import socket
import subprocess
import tempfile
import urllib.parse
from pathlib import Path

from serve_process import kib, login, peak_growth, start_serve  # beside this script

MIB = 1024 * 1024


def _run_big(url: str, cookie: str) -> str:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
    conn.request("POST", "/scripting", b"call=big.sh",
                 {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    response = conn.getresponse()
    size = 0
    while chunk := response.read(MIB):
        size += len(chunk)
    return f"{response.status}, {size / 1e6:.0f} MB answer"


def _stream_body(url: str, cookie: str, path: str, ctype: str, mib: int,
                 chunked: bool = False) -> str:
    """Send ``mib`` MiB with a matching Content-Length (or ``chunked``, with none) until the
    server answers or closes."""
    parts = urllib.parse.urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=600)
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {mib * MIB}"
    head = (f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nCookie: {cookie}\r\n"
            f"Content-Type: {ctype}\r\n{length}\r\nConnection: close\r\n\r\n").encode()
    chunk = (b"<Garbage>" + b"x" * (MIB - 9)) if "xml" in ctype else b"a=" + b"x" * (MIB - 2)
    if chunked:
        chunk = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    sent = 0
    try:
        sock.sendall(head)
        for _ in range(mib):
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:  # the server answered: stop, as curl does
                break
            sock.sendall(chunk)
            sent += 1
        sock.shutdown(socket.SHUT_WR)  # done sending, as curl is after a 413
    except OSError:
        pass  # the server answered and closed early: what we want
    answer = b""
    with contextlib.suppress(OSError):
        while data := sock.recv(65536):
            answer += data
    sock.close()
    status = answer.split(b"\r\n", 1)[0].decode(errors="replace") or "(closed)"
    return f"{status} (the client sent {sent} of {mib} MiB; the server discards the rest)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stdout-mb", type=int, default=200)
    parser.add_argument("--body-mib", type=int, default=400)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-hardening-") as tmp:
        root = Path(tmp)
        bin_dir = root / "bin"
        bin_dir.mkdir()
        big = bin_dir / "big.sh"
        big.write_text(f"#!/bin/sh\nhead -c {args.stdout_mb * 1000 * 1000} /dev/zero "
                       "| tr '\\0' x\n")
        big.chmod(0o755)
        proc, url = start_serve(root, [bin_dir])
        try:
            cookie = login(url)
            print(f"server pid {proc.pid} on {url}; RSS {kib(proc.pid, 'VmRSS') / 1024:.1f} "
                  "MiB at start")
            for run in range(1, args.runs + 1):
                growth, seconds, result, _ = peak_growth(proc.pid, lambda: _run_big(url, cookie))
                rss = kib(proc.pid, "VmRSS") / 1024
                print(f"{args.stdout_mb} MB stdout, run {run}: peak RSS growth {growth:.0f} MiB "
                      f"in {seconds:.1f} s ({result}); RSS after {rss:.0f} MiB")
            spool = sorted((root / "work").glob("history-*/*"))
            print(f"  history: {len(spool)} spooled output file(s) on disk, "
                  f"{sum(p.stat().st_size for p in spool) / 1e6:.0f} MB")
            form = "application/x-www-form-urlencoded"
            for path, ctype, chunked in (("/Entity", "text/xml", False),
                                         ("/scripting", form, False),
                                         ("/Entity", "text/xml", True),
                                         ("/scripting", form, True),
                                         ("/login", form, True)):
                growth, seconds, result, _ = peak_growth(
                    proc.pid, lambda p=path, c=ctype, k=chunked: _stream_body(
                        url, cookie, p, c, args.body_mib, chunked=k))
                how = "chunked" if chunked else "with Content-Length"
                print(f"{args.body_mib} MiB bad body to {path} ({how}): peak RSS growth "
                      f"{growth:.1f} MiB in {seconds:.1f} s: {result}")
        finally:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
            if proc.poll() is None:
                proc.kill()


if __name__ == "__main__":
    main()
