"""The stand-in on a real socket refuses what it must, with its error document (issue 20):
writes from another site, odd bytes in paths, and bodies past its limit."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from backend_helpers import BackendRun
from lxml import etree


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
