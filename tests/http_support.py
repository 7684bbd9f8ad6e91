"""Raw HTTP for the tests that act as a client no library would be: a chunked body sent until
the server answers, counting what went out before the answer came."""

from __future__ import annotations

import contextlib
import select
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

MIB = 1024 * 1024


@dataclass(frozen=True)
class ChunkedAttempt:
    """How a chunked upload ended: the bytes sent before the answer, and the answer."""

    sent: int
    status: int
    head: bytes
    body: bytes

    def head_value(self, name: str) -> str:
        """The first header ``name`` of the answer ('' when there is none)."""
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.decode("latin-1").partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return ""


def send_chunked_until_answered(url: str, path: str, headers: dict[str, str], chunk: bytes,
                                most: int, method: str = "POST",
                                declared: bool = False) -> ChunkedAttempt:
    """POST (or ``method``) ``chunk`` again and again as ``Transfer-Encoding: chunked`` (no
    Content-Length) until the server answers (or ``most`` bytes went out, then the body is
    ended). ``sent`` counts the body bytes handed to the socket before the answer was
    readable: what the server refused the body after, plus what the socket buffers held.
    ``declared``: send ``Content-Length: most`` and the bare bytes instead of chunks (a
    ``most`` that is no multiple of the chunk's length ends with a whole chunk too many)."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=120)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    framing = f"Content-Length: {most}" if declared else "Transfer-Encoding: chunked"
    sock.sendall((f"{method} {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                  f"{framing}\r\nConnection: close\r\n{head}\r\n").encode())
    framed = chunk if declared else b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    sent = 0
    try:
        while sent < most:
            readable, writable, _ = select.select([sock], [sock], [], 120)
            if readable:
                break
            if writable:
                sock.sendall(framed)
                sent += len(chunk)
        else:
            if not declared:
                sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server answered and closed while we were sending: read its answer
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)  # no more body, as curl stops after an early answer
    answer = b""
    try:
        while data := sock.recv(65536):
            answer += data
    except OSError:
        pass
    finally:
        sock.close()
    head_part, _, body = answer.partition(b"\r\n\r\n")
    status = int(head_part.split(b" ", 2)[1]) if head_part.startswith(b"HTTP/") else 0
    return ChunkedAttempt(sent, status, head_part, body)
