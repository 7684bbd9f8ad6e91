"""The stand-in on a real socket refuses what it must, with its error document (issue 20):
writes from another site, odd bytes in paths, and chunked bodies past its limit."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from backend_helpers import BACKEND_TOKEN, BackendRun, backend_authenticate
from http_support import MIB, send_chunked_until_answered
from hypothesis import example, given, settings
from hypothesis import strategies as st
from lxml import etree
from werkzeug.test import Client

from sss_emulator import decisions
from sss_emulator.backend import EntityStore, make_backend_app


def _send(url: str, method: str = "GET", data: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def _error(body: bytes) -> etree._Element:
    """The one ``<Error>`` of an answer, which must be the server's XML document."""
    errors = etree.fromstring(body).findall("Error")
    assert len(errors) == 1, body
    return errors[0]


@pytest.mark.parametrize("fetch_site", ["same-site", "cross-site"])
def test_writes_from_another_site_are_refused(backend_run: BackendRun, fetch_site: str) -> None:
    """Another page holding the script's cookie (cookies ignore ports) cannot delete or write."""
    cookie = {"Cookie": f"SessionToken={backend_run.token}", "Sec-Fetch-Site": fetch_site}
    before = backend_run.store.counts()
    status, body, _ = _send(f"{backend_run.url}/Entity/1", "DELETE", headers=cookie)
    assert status == 403 and "cross-site DELETE" in str(_error(body).get("description"))
    assert backend_run.store.counts() == before
    plain = {"Cookie": f"SessionToken={backend_run.token}"}
    assert _send(f"{backend_run.url}/Entity/1", headers=cookie)[0] == 200  # reading is fine
    assert _send(f"{backend_run.url}/Info", headers=plain)[0] == 200


@pytest.mark.parametrize("target", ["/Entity/%00", "/Entity/1%00", "/User/PAM/a%00b",
                                    "/User/%00", "/UserRoles/%00", "/FileSystem/%00",
                                    "/Entity?query=FIND%00", "/%00%FF", "/Entity/%EF%BF%BE"])
def test_odd_bytes_in_a_path_are_a_400_document(backend_run: BackendRun, target: str) -> None:
    """No lxml ValueError (werkzeug's HTML 500 page): the stand-in's own error document."""
    cookie = {"Cookie": f"SessionToken={backend_run.token}"}
    status, body, headers = _send(backend_run.url + target, headers=cookie)
    assert 400 <= status < 500, body
    assert headers["Content-Type"].startswith("text/xml")
    assert "U+" in str(_error(body).get("description"))


#: NUL and other controls, CR LF, non-characters, and what separates ids and queries.
_ODD = st.text(alphabet=st.one_of(st.sampled_from("\x00\x01\r\n\t\x1f\x7f\ufffe\uffff%/&?#"),
                                  st.characters(codec="utf-8")), max_size=12)
_ROUTES = ["/Entity/{}", "/Entity/1&{}", "/Entity?query=FIND {}", "/Entity?query=COUNT {}",
           "/Entity?{}=1", "/User/{}/alice", "/User/PAM/{}", "/UserRoles/{}",
           "/FileSystem/{}", "/EntityPermissions/{}", "/logout/{}", "/{}"]
_STORE = EntityStore()
_APP = make_backend_app(_STORE, authenticate=backend_authenticate)


@settings(max_examples=150, deadline=None)
@given(route=st.sampled_from(_ROUTES), odd=_ODD,
       method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]))
# digits Python's isdigit() accepts and int() refuses (a 500 once), every time, not by chance
@example(route="/Entity/{}", odd="\u00b2", method="GET")
@example(route="/Entity/{}", odd="--1", method="DELETE")
@example(route="/Entity?query=FIND {}", odd="\u00b2", method="GET")
def test_odd_bytes_in_every_path_segment_never_fail_internally(route: str, odd: str,
                                                                method: str) -> None:
    """Every answer is a status below 500 (or the 501 of what is not emulated), as the
    stand-in's XML document."""
    client = Client(_APP)
    client.set_cookie("SessionToken", quote(BACKEND_TOKEN, safe=""))
    response = client.open(route.format(quote(odd, safe="")), method=method,
                           data=b"<Request/>" if method in ("POST", "PUT") else None)
    assert response.status_code < 500 or response.status_code == 501, response.data
    assert response.headers["Content-Type"].startswith("text/xml")


# --- issue 20, point 7: a chunked body is refused at the limit, in constant memory -----------

_STAND_IN = """
import resource, sys
sys.path.insert(0, sys.argv[1])
from backend_helpers import backend_authenticate
from sss_emulator.backend import BackendServer, EntityStore, make_backend_app
with BackendServer(make_backend_app(EntityStore(), authenticate=backend_authenticate)) as srv:
    print(srv.url, flush=True)
    for _ in sys.stdin:  # each line asks for the peak memory so far (KiB)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)
"""


def test_a_chunked_body_past_the_limit_is_refused_in_constant_memory() -> None:
    """A stand-in process of its own, so that its peak memory is its own: a chunked XML body
    that never ends is answered 413 once a little more than the 64 MiB XML limit went out, and
    the stand-in's peak memory grows by far less than the limit (it grew by about twice the
    limit before: the body was read whole, then joined). A chunked body under the limit still
    works."""
    child = subprocess.Popen([sys.executable, "-c", _STAND_IN, str(Path(__file__).parent)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    try:
        url = child.stdout.readline().strip()
        cookie = {"Cookie": f"SessionToken={quote(BACKEND_TOKEN, safe='')}",
                  "Content-Type": "text/xml"}
        small = send_chunked_until_answered(url, "/Entity", cookie,
                                            b'<Insert><RecordType name="Chunky"/></Insert>',
                                            most=1)
        assert small.status == 200, small.body
        assert etree.fromstring(small.body).find("RecordType").get("id")

        def peak_kib() -> int:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write("peak\n")
            child.stdin.flush()
            return int(child.stdout.readline())

        before = peak_kib()
        huge = send_chunked_until_answered(url, "/Entity", cookie,
                                           b"<Garbage>" + b"x" * (MIB - 9), most=512 * MIB)
        growth_mib = (peak_kib() - before) / 1024
    finally:
        child.stdin.close()
        child.wait(30)
    assert huge.status == 413, huge.body
    assert "larger than the stand-in accepts" in str(_error(huge.body).get("description"))
    limit = decisions.MAX_STANDIN_XML_BYTES
    assert limit < huge.sent <= limit + 16 * MIB, huge.sent / MIB
    assert growth_mib < 16, f"the stand-in grew by {growth_mib:.0f} MiB for a refused body"
