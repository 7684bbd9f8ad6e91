"""Which LinkAhead client a run's script imports, so its ini holds only what that client accepts.

pylib validates its ini against a closed schema on import: ``linkahead`` before 0.21 and the old
``caosdb`` package reject an ``[Email]`` section (``Additional properties are not allowed
('Email' was unexpected)``), so writing one would break a script that works on the server. The
client is found the way the script would find it: the Python of the script's shebang (or, for a
shell script, the ``python3`` on the run's ``PATH``), asked once for the installed versions
(``importlib.metadata``, without importing the client). Answers are cached per interpreter and
``PYTHONPATH``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sss_emulator import decisions

__all__ = ("ClientInfo", "detect_client", "script_python")

logger = logging.getLogger("sss_emulator.connect.clients")

_PROBE = (
    "import importlib.metadata as m, json\n"
    "out = {}\n"
    "for name in ('linkahead', 'caosdb'):\n"
    "    try:\n"
    "        out[name] = m.version(name)\n"
    "    except m.PackageNotFoundError:\n"
    "        out[name] = None\n"
    "print(json.dumps(out))\n"
)
_CACHE: dict[tuple[str, str | None], ClientInfo | None] = {}
_LOCK = threading.Lock()


def _version(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    parts: list[int] = []
    for piece in text.split("."):
        digits = ""
        for char in piece:  # "0rc1" -> 0: only the leading digits count
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        parts.append(int(digits))
        if digits != piece:
            break
    return tuple(parts) or None


@dataclass(frozen=True)
class ClientInfo:
    """Installed versions of ``linkahead`` and ``caosdb`` for one interpreter (None: absent)."""

    linkahead: str | None
    caosdb: str | None

    @property
    def accepts_email_section(self) -> bool:
        """Whether the client's ini schema knows ``[Email]`` (linkahead >= 0.21)."""
        version = _version(self.linkahead)
        return version is not None and version >= decisions.EMAIL_INI_SECTION_SINCE

    @property
    def reads_pycaosdb_ini(self) -> bool:
        """The old ``caosdb`` package alone (no linkahead): it reads ``~/.pycaosdb.ini``."""
        version = _version(self.caosdb)
        return self.linkahead is None and version is not None and version < (0, 99)


def script_python(script: Path, env: Mapping[str, str]) -> str | None:
    """The Python a script runs with: its shebang's interpreter if that is a Python, else the
    ``python3`` on the run's ``PATH`` (a shell script calling Python); None if there is none."""
    path = env.get("PATH", os.defpath)
    try:
        with script.open("rb") as handle:
            first = handle.readline(512)
    except OSError:
        first = b""
    words = first[2:].decode(errors="replace").split() if first.startswith(b"#!") else []
    if words:
        name = words[1] if Path(words[0]).name == "env" and len(words) > 1 else words[0]
        if Path(name).name.startswith("python"):
            return shutil.which(name, path=path) if "/" not in name else name
    return shutil.which("python3", path=path)


def detect_client(python: str, env: Mapping[str, str]) -> ClientInfo | None:
    """The client versions ``python`` sees with this environment; None if it cannot say."""
    key = (os.path.realpath(python), env.get("PYTHONPATH"))
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    info: ClientInfo | None = None
    try:
        done = subprocess.run(
            [python, "-c", _PROBE], env=dict(env), capture_output=True, text=True, timeout=20,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode == 0:
            data = json.loads(done.stdout.strip().splitlines()[-1])
            info = ClientInfo(data.get("linkahead"), data.get("caosdb"))
        else:
            logger.debug("client probe with %s failed: %s", python, done.stderr.strip())
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        logger.debug("client probe with %s failed: %s", python, exc)
    with _LOCK:
        _CACHE[key] = info
    return info
