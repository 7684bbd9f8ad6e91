"""Our own lines on stderr: whole, and never glued to another line (watch mode has two threads)."""

from __future__ import annotations

import io
import threading
import time

from sss_emulator.terminal import live_sinks, say


class _SlowStream(io.StringIO):
    """A stream that yields to other threads inside every write, as a busy terminal may."""

    def write(self, text: str) -> int:
        written = super().write(text)
        time.sleep(0.001)
        return written


def test_lines_from_two_threads_never_share_a_line() -> None:
    stream = _SlowStream()
    start = threading.Barrier(2)

    def talk(who: str) -> None:
        start.wait()
        for i in range(30):
            say(stream, f"{who} {i}")

    threads = [threading.Thread(target=talk, args=(who,)) for who in ("loop", "run")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 60
    assert all(line.startswith("sss-emulate: ") and line.count("sss-emulate:") == 1
               for line in lines), lines


def test_a_line_after_output_that_stopped_mid_line_starts_on_its_own() -> None:
    """A script's stderr without a final newline, then our summary: two lines, not one."""
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    _, on_stderr = live_sinks("text", io.BytesIO(), err)
    assert on_stderr is not None
    on_stderr(b"50% done")
    say(err, "run 1 done")
    on_stderr(b"whole line\n")
    say(err, "run 2 done")
    err.flush()
    text = err.buffer.getvalue().decode()  # type: ignore[attr-defined]
    assert text == "50% done\nsss-emulate: run 1 done\nwhole line\nsss-emulate: run 2 done\n"
