"""A minimal Debug Adapter Protocol client: attaches to debugpy as VS Code would (stdlib only).

debugpy's ``wait_for_client()`` returns on the client's ``configurationDone``; the sequence is
initialize → attach (non-empty arguments) → event ``initialized`` → setBreakpoints →
configurationDone. The ``attach`` response only follows configurationDone, and may never come
when the script ends at once, so nothing here waits for it.
"""

from __future__ import annotations

import itertools
import json
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Message = dict[str, Any]


class DAPClient:
    def __init__(self, host: str, port: int, timeout: float = 20.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.seq = itertools.count(1)
        self.received: list[Message] = []

    def send(self, command: str, **arguments: Any) -> int:
        seq = next(self.seq)
        body = json.dumps({"seq": seq, "type": "request", "command": command,
                           "arguments": arguments}).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return seq

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the debug adapter closed the connection")
        self.buf += chunk

    def recv(self) -> Message:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        headers = dict(line.split(b":", 1) for line in head.split(b"\r\n"))
        length = int(headers[b"Content-Length"])
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        message: Message = json.loads(body)
        self.received.append(message)
        return message

    def wait_for(self, predicate: Callable[[Message], bool]) -> Message:
        while True:
            message = self.recv()
            if predicate(message):
                return message

    def response(self, seq: int) -> Message:
        message = self.wait_for(lambda m: m.get("type") == "response"
                                and m.get("request_seq") == seq)
        if not message.get("success"):
            raise RuntimeError(f"{message.get('command')} failed: {message.get('message')}")
        return message

    def attach(self, breakpoints: Mapping[str, Sequence[int]] | None = None) -> None:
        """Attach and finish configuration: this is what lets the script start."""
        self.response(self.send("initialize", clientID="sss-emulator-tests",
                                adapterID="debugpy", pathFormat="path", linesStartAt1=True,
                                columnsStartAt1=True))
        attach_seq = self.send("attach", justMyCode=True)
        message = self.wait_for(lambda m: m.get("event") == "initialized" or (
            m.get("type") == "response" and m.get("request_seq") == attach_seq))
        if message.get("type") == "response" and not message.get("success"):
            raise RuntimeError(f"attach failed: {message.get('message')}")
        for path, lines in (breakpoints or {}).items():
            self.response(self.send("setBreakpoints", source={"path": path},
                                    breakpoints=[{"line": line} for line in lines]))
        self.response(self.send("configurationDone"))

    def close(self) -> None:
        self.sock.close()
