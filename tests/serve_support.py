"""``sss-emulate serve`` as the tests start it: the command, the URL its banner names, and
waiting until it answers."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

SERVE = [sys.executable, "-m", "sss_emulator", "serve"]

#: "Serving scripts from DIRS on URL (users: …": the URL, context root included.
_BANNER = re.compile(r" on (https?://\S+) \(users:")


def banner_url(proc: subprocess.Popen[str], seen: list[str] | None = None) -> str:
    """Read serve's stderr up to its banner and return the URL it names; every line read is
    added to ``seen`` (warnings come before the banner)."""
    assert proc.stderr is not None
    seen = [] if seen is None else seen
    for line in proc.stderr:
        seen.append(line)
        found = _BANNER.search(line)
        if found:
            return found.group(1)
    raise AssertionError("sss-emulate serve did not start:\n" + "".join(seen))


def wait_ready(url: str, proc: subprocess.Popen[str], limit_s: float = 20) -> None:
    """Until ``url`` answers HTTP at all (401 without anonymous access counts)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            urllib.request.urlopen(f"{url}/Info", timeout=2)
            return  # anonymous access on: the anonymous user's Info
        except urllib.error.HTTPError:
            return  # any HTTP answer (401 without anonymous access) means it serves
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not answer within {limit_s}s")
