"""What one side of a comparison saw: the server's answer to a call, read as pylib reads it.

A server run and a local run are both turned into an :class:`Observed` from the response
document (the local run renders the very XML ``sss-emulate serve`` would send), so both sides
are read by one parser and differ only where the runs differ. A recorded call file gives an
:class:`Observed` too, with ``None`` for what it did not record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lxml import etree

__all__ = ("Observed", "UserInfo", "parse_response", "response_shape")


@dataclass(frozen=True)
class UserInfo:
    """The ``<UserInfo>`` of a response: who the server ran the call as."""

    name: str
    realm: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class Observed:
    """One side's outcome of a call (``None``: there was no such element, e.g. a refusal).

    Attributes:
        status: the HTTP status of the answer.
        code: ``/Response/script/@code``; None when the call was refused.
        call, stdout, stderr: the script element's texts ("" when empty, as sent).
        error: the ``<Error description>`` of a refusal; error_code its ``code``.
        shape: element/attribute structure of the response (:func:`response_shape`).
        shared: files left for download, by name below SHARED_DIR; a ``None`` content means
            only the name is known.
        shared_complete: ``shared`` is every file of SHARED_DIR, not only the linked ones.
        user: the response's ``UserInfo``.
        srid: the response's request id.
    """

    status: int | None
    code: int | None = None
    call: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    error: str | None = None
    error_code: str | None = None
    shape: tuple[str, ...] | None = None
    shared: Mapping[str, bytes | None] | None = None
    shared_complete: bool = False
    user: UserInfo | None = None
    srid: str | None = None
    unknown: frozenset[str] = field(default_factory=frozenset)
    """Aspects this side does not know (a call file that recorded no stdout): not compared."""


def _local_name(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else str(tag)


def response_shape(root: etree._Element) -> tuple[str, ...]:
    """One line per element, in document order: its path and sorted attribute names.

    ``Response[@baseuri @srid @timestamp]``, ``Response/script[@code]``,
    ``Response/script/call``, … Processing instructions before the root show as
    ``?xml-stylesheet``. Values are not part of the shape: they are compared on their own.
    """
    lines: list[str] = []
    previous = root.getprevious()
    before = []
    while previous is not None:
        if isinstance(previous, etree._ProcessingInstruction):
            before.append(f"?{previous.target}")
        previous = previous.getprevious()
    lines.extend(reversed(before))

    def walk(element: etree._Element, prefix: str) -> None:
        if not isinstance(element.tag, str):
            return  # comments and processing instructions inside the document
        path = f"{prefix}/{_local_name(element.tag)}" if prefix else _local_name(element.tag)
        attrs = " ".join(f"@{_local_name(a)}" for a in sorted(element.attrib))
        lines.append(f"{path}[{attrs}]" if attrs else path)
        for child in element:
            walk(child, path)

    walk(root, "")
    return tuple(lines)


def _user_info(root: etree._Element) -> UserInfo | None:
    info = root.find("UserInfo")
    if info is None:
        return None
    roles = tuple((r.text or "") for r in info.iterfind("Roles/Role"))
    return UserInfo(info.get("username", ""), info.get("realm", ""), roles)


def parse_response(status: int | None, body: bytes) -> Observed:
    """The answer to ``POST /scripting`` as pylib reads it, plus its shape.

    An answer that is not XML (a proxy's HTML error page) is an :class:`Observed` whose
    ``error`` says so, not an exception: it is a difference worth showing.
    """
    try:
        root = etree.fromstring(body, parser=etree.XMLParser(resolve_entities=False,
                                                             no_network=True))
    except etree.XMLSyntaxError as exc:
        preview = body[:200].decode("utf-8", errors="replace")
        return Observed(status=status, error=f"not an XML response ({exc}): {preview!r}",
                        shape=("<not XML>",))
    script = root.find("script")
    error = root.find("Error")
    code: int | None = None
    call = stdout = stderr = None
    if script is not None:
        raw = script.get("code")
        try:
            code = int(raw) if raw is not None else None
        except ValueError:
            code = None
        call = script.findtext("call") or ""
        stdout = script.findtext("stdout") or ""
        stderr = script.findtext("stderr") or ""
    return Observed(
        status=status,
        code=code,
        call=call,
        stdout=stdout,
        stderr=stderr,
        error=error.get("description") if error is not None else None,
        error_code=error.get("code") if error is not None else None,
        shape=response_shape(root),
        user=_user_info(root),
        srid=root.get("srid"),
    )
