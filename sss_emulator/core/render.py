"""The documents a run produces: the server's XML response and our versioned JSON.

Pure functions of a finished run (or of the error that stopped it). The XML is what pylib parses
with ``/Response/script/@code``, ``/Response/script/call``, ``…/stdout`` and ``…/stderr``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sss_emulator import decisions
from sss_emulator.core.tokens import Identity
from sss_emulator.errors import EmulatorError
from sss_emulator.escapes import json_text
from sss_emulator.wire import user_info_element, xml_safe

if TYPE_CHECKING:
    from lxml import etree

__all__ = (
    "JSON_SCHEMA",
    "ResponseMeta",
    "decode_output",
    "render_error_xml",
    "render_json",
    "render_response_xml",
    "xml_safe",
)

#: The ``schema`` field of ``--format json`` documents; bump the suffix on breaking changes.
JSON_SCHEMA = "sss-emulator/run/v1"


def decode_output(data: bytes) -> str:
    """Bytes a script wrote → text, invalid UTF-8 replaced (the server reads UTF-8)."""
    text = data.decode("utf-8", errors="replace")
    return text.strip() if decisions.TRIM_OUTPUT else text


@dataclass(frozen=True)
class ResponseMeta:
    """What a legacy server response carries besides the payload; clients ignore it."""

    identity: Identity | None = None
    baseuri: str = "http://127.0.0.1:10443"
    srid: str = field(default_factory=lambda: os.urandom(16).hex())
    #: Milliseconds since the epoch, as the server writes them.
    timestamp: str = field(default_factory=lambda: str(int(time.time() * 1000)))


def _root(meta: ResponseMeta) -> etree._Element:
    from lxml import etree  # here, not above: a run shown as text or JSON needs no XML

    root = etree.Element("Response", srid=meta.srid, timestamp=meta.timestamp,
                         baseuri=meta.baseuri)
    if meta.identity is not None and not meta.identity.is_anonymous:
        root.append(user_info_element(meta.identity.name, meta.identity.realm,
                                      meta.identity.roles))
    return root


def _serialise(root: etree._Element) -> bytes:
    from lxml import etree

    document: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8",
                                     pretty_print=True)
    return document


def render_response_xml(
    *, code: int, call: str, stdout: str, stderr: str, meta: ResponseMeta
) -> bytes:
    """The 200 response of a script that ran: ``<script code><call/><stdout/><stderr/>``."""
    from lxml import etree

    root = _root(meta)
    script = etree.SubElement(root, "script", code=str(code))
    for tag, text in (("call", call), ("stdout", stdout), ("stderr", stderr)):
        element = etree.SubElement(script, tag)
        if text:
            element.text = xml_safe(text)
    return _serialise(root)


def render_error_xml(status: int, description: str, meta: ResponseMeta) -> bytes:
    """An error response: ``<Response>`` with one ``<Error code description/>`` and no script."""
    from lxml import etree

    root = _root(meta)
    etree.SubElement(
        root,
        "Error",
        code=decisions.ERROR_CODES.get(status, str(status)),
        description=xml_safe(description),
    )
    return _serialise(root)


def error_json(error: EmulatorError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {"type": type(error).__name__, "message": error.message,
            "http_status": error.http_status, "exit_code": error.exit_code}


def render_json(
    *,
    code: int | None,
    call: str | None,
    stdout: str,
    stderr: str,
    argv: Sequence[str],
    shared_dir: str | None,
    shared_files: Sequence[Mapping[str, str]],
    timed_out: bool,
    duration_s: float | None,
    error: EmulatorError | None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """One versioned JSON document, the same shape on success, failure and refusal."""
    document: dict[str, Any] = {
        "schema": JSON_SCHEMA,
        "code": code,
        "call": call,
        "stdout": stdout,
        "stderr": stderr,
        "argv": list(argv),
        "shared_dir": shared_dir,
        "shared_files": [dict(f) for f in shared_files],
        "timed_out": timed_out,
        "duration_s": None if duration_s is None else round(duration_s, 6),
        "error": error_json(error),
    }
    document.update(extra or {})
    return json_text(json.dumps(document, ensure_ascii=False))
