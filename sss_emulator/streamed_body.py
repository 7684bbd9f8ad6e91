"""A request body sent in chunks (``Transfer-Encoding: chunked``, no ``Content-Length``), read
against a limit in constant memory.

Why: a body with a ``Content-Length`` over a limit is refused before a byte of it is read, but a
chunked body says nothing of its size. Read into memory up to the limit and only then refused
(``stream.read(limit + 1)``), a 64 MiB limit cost the stand-in about twice that in memory for
every such request. Here the body is counted as it arrives and copied into a spooled temporary
file (1 MiB in memory, the rest in an unnamed file that goes when it is closed): past the limit
the copy stops and the caller answers 413; under it the caller gets a body of known length, as
if the client had sent a ``Content-Length``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

__all__ = ("is_streamed", "spooled_body")

#: How much of a spooled body stays in memory; the rest goes to an unnamed temporary file.
SPOOL_IN_MEMORY = 1024 * 1024
_CHUNK = 64 * 1024


def is_streamed(environ: MutableMapping[str, Any]) -> bool:
    """Whether the body comes without a length (chunked): the server ends the input for us."""
    return not environ.get("CONTENT_LENGTH") and bool(environ.get("wsgi.input_terminated"))


@contextmanager
def spooled_body(environ: MutableMapping[str, Any], limit: int) -> Iterator[bool]:
    """Within the block, a chunked body of at most ``limit`` bytes is one of known length:
    ``environ`` gets it as ``wsgi.input`` with ``CONTENT_LENGTH`` (and loses the chunked
    markers), so that a request object built from it reads it as any other body. Yields
    ``False`` as soon as more than ``limit`` bytes arrived (answer 413; nothing more is read),
    ``True`` otherwise. A body with a length is left as it is (``True``).
    """
    if not is_streamed(environ):
        yield True
        return
    stream = environ["wsgi.input"]
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        size = 0
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                yield False
                return
            spool.write(chunk)
        spool.seek(0)
        environ["wsgi.input"] = spool
        environ["CONTENT_LENGTH"] = str(size)
        environ.pop("wsgi.input_terminated", None)
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        yield True
