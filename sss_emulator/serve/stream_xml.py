"""The response document of a run with a large output, written piece by piece.

:meth:`RunOutcome.to_xml` builds the whole document in memory: the output decoded, made
XML-safe, copied into lxml and serialised again, five copies of a 200 MB stdout at once. Here
the same bytes are produced in chunks of :data:`CHUNK` bytes from the raw output, so the
server holds the output once (as the run left it) plus one chunk.
"""

from __future__ import annotations

import codecs
import secrets
from collections.abc import Iterator

from sss_emulator.core.outcome import RunOutcome
from sss_emulator.core.render import ResponseMeta, render_response_xml, xml_safe

__all__ = ("CHUNK", "STREAM_THRESHOLD", "stream_response_xml")

#: Outputs (stdout plus stderr) above this many bytes are answered piece by piece.
STREAM_THRESHOLD = 1024 * 1024
#: Bytes of output escaped at a time.
CHUNK = 1024 * 1024

# What libxml2 writes for these characters of a text node (others are written as they are).
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


def _escaped(data: bytes, chunk: int) -> Iterator[bytes]:
    """``data`` as the text of an element: decoded as UTF-8 (invalid bytes replaced), made
    XML-safe and escaped, exactly as lxml serialises it."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    view = memoryview(data)
    for start in range(0, len(data), chunk):
        final = start + chunk >= len(data)
        text = decoder.decode(view[start : start + chunk], final=final)
        if text:
            yield xml_safe(text).translate(_ESCAPES).encode("utf-8")


def stream_response_xml(outcome: RunOutcome, meta: ResponseMeta,
                        chunk: int = CHUNK) -> Iterator[bytes]:
    """The bytes of ``outcome.to_xml(meta)`` for a run that finished with a code, in pieces."""
    assert outcome.code is not None and not outcome.timed_out
    markers = {name: f"sss{name}{secrets.token_hex(16)}" for name in ("stdout", "stderr")}
    streams = {"stdout": outcome.stdout_bytes, "stderr": outcome.stderr_bytes}
    document = render_response_xml(
        code=outcome.code, call=outcome.call,
        stdout=markers["stdout"] if streams["stdout"] else "",
        stderr=markers["stderr"] if streams["stderr"] else "",
        meta=meta)
    rest = document
    for name in ("stdout", "stderr"):
        if not streams[name]:
            continue
        before, rest = rest.split(markers[name].encode("ascii"), 1)
        yield before
        yield from _escaped(streams[name], chunk)
    yield rest
