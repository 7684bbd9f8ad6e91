"""Issue 20, point 6: an id is ASCII digits, on a real socket.

``str.isdigit()`` says yes to ``²`` and to Arabic-Indic digits; ``int()`` then raised on ``²``
(a 500 "invalid literal for int()") and read ``٣`` as 3, so ``/Entity/٣`` answered entity 3.
The server reads only ``-?[0-9]+`` as an id: everything else is a name, which no entity has.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import quote

import pytest
from backend_helpers import ADMIN_TOKEN, BackendRun
from lxml import etree

from sss_emulator.backend import messages

#: The id of the seeded RecordType ``MusicalInstrument``, which the digits below spell.
_ID = 102
#: Digits Python calls digits and the server does not: superscript two, 102 in Arabic-Indic
#: and in fullwidth digits, and a doubled minus sign before ASCII digits.
_NOT_IDS = ["\u00b2", "\u0661\u0660\u0662", "\uff11\uff10\uff12", "--102", "-\u00b2",
            "10\u00b2"]


def _send(run: BackendRun, method: str, target: str,
          data: bytes | None = None) -> tuple[int, etree._Element]:
    headers = {"Cookie": f"SessionToken={quote(ADMIN_TOKEN, safe='')}",
               "Content-Type": "text/xml"}
    request = urllib.request.Request(run.url + target, data=data, method=method,
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    assert status < 500, body
    return status, etree.fromstring(body)


def _errors(root: etree._Element) -> list[str]:
    return [str(e.get("description")) for e in root.iter("Error")]


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize("text", _NOT_IDS)
def test_a_non_ascii_digit_is_no_id(backend_run: BackendRun, method: str, text: str) -> None:
    """``/Entity/²`` is a name no entity has, as ``/Entity/nosuch`` is: never a 500, and
    ``/Entity/١٠٢`` never answers (or deletes) entity 102."""
    before = backend_run.store.counts()
    assert backend_run.store.get(_ID) is not None  # what ١٠٢ was mistaken for
    _status, root = _send(backend_run, method, "/Entity/" + quote(text, safe=""))
    assert _errors(root) == [messages.does_not_exist().description]
    assert root.find("*[@id]") is None  # no entity with an id: not entity 3
    assert backend_run.store.counts() == before


@pytest.mark.parametrize("text", _NOT_IDS)
def test_a_non_ascii_digit_as_a_datatype_or_a_reference_is_refused(backend_run: BackendRun,
                                                                    text: str) -> None:
    """An Insert naming ``²`` as a datatype or as the value of a REFERENCE property gets the
    server's error on the entity (nothing stored), never a 500."""
    before = backend_run.store.counts()
    as_datatype = f'<Insert><Property name="Odd" datatype="{text}"/></Insert>'
    _status, root = _send(backend_run, "POST", "/Entity", as_datatype.encode())
    assert _errors(root), etree.tostring(root)
    as_reference = (f'<Insert><Record name="OddRef"><Parent name="Guitar"/>'
                    f'<Property name="price">1</Property>'
                    f'<Property name="Manufacturer">{text}</Property></Record></Insert>')
    _status, root = _send(backend_run, "POST", "/Entity", as_reference.encode())
    assert messages.reference_does_not_exist(text).description in _errors(root)
    assert backend_run.store.counts() == before


@pytest.mark.parametrize("query", ["FIND {}", "COUNT {}", "FIND Record WHICH REFERENCES {}",
                                   "FIND Record WITH Manufacturer={}",
                                   "SELECT Manufacturer.name FROM {}"])
@pytest.mark.parametrize("text", _NOT_IDS)
def test_a_non_ascii_digit_in_a_query_is_no_id(backend_run: BackendRun, query: str,
                                               text: str) -> None:
    """A query naming ``²`` looks for that name, never fails on ``int()``, and ``١٠٢`` never
    finds entity 102."""
    _status, root = _send(backend_run, "GET",
                          "/Entity/?query=" + quote(query.format(text), safe=""))
    assert root.find(f"*[@id='{_ID}']") is None, etree.tostring(root)


@pytest.mark.parametrize("version", ["HEAD~\u00b2", "HEAD~\u0661", "HEAD~-1"])
def test_a_non_ascii_count_of_versions_back_is_no_version(backend_run: BackendRun,
                                                          version: str) -> None:
    """``<id>@HEAD~²`` names no version (``int("²")`` raised, a 500): does not exist."""
    _status, root = _send(backend_run, "GET", f"/Entity/{_ID}@" + quote(version, safe=""))
    assert _errors(root) == [messages.does_not_exist().description]
