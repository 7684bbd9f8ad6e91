"""Which LinkAhead client a run's script imports, so its ini holds only what that client accepts.

pylib validates its ini against a closed schema on import: ``linkahead`` before 0.21 and the old
``caosdb`` package reject an ``[Email]`` section (``Additional properties are not allowed
('Email' was unexpected)``), so writing one would break a script that works on the server. The
client is found the way the script would find it: the Python of the script's shebang (or, for a
shell script, the ``python3`` on the run's ``PATH``), asked once for the installed versions
(``importlib.metadata``, without importing the client).

Asking costs a Python start-up and ``importlib.metadata`` (30-50 ms, more through a pyenv shim),
more than the rest of a CLI run. Answers are therefore cached per interpreter, ``PYTHON*``
variables and working directory: in memory for the life of the process, and on disk (in the
private ``<tmp>/sss-emulator-<uid>/cache``) for the next ``sss-emulate``, together with a
fingerprint of everything the answer was read from: the interpreter and its ``pyvenv.cfg``;
in every ``sys.path`` folder (the user site below the run's HOME included) the entries that
could be a client's distribution (``importlib.metadata`` finds one only by a file name starting
with its name) and the ``.pth`` files that build ``sys.path``, with their contents' stamps;
``sitecustomize``; and the metadata files the versions were read from. A stored answer whose
fingerprint differs is asked again. An interpreter that is a wrapper choosing the real one on
every start (a pyenv shim: its ``sys.executable`` is another file) is not stored on disk.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sss_emulator import decisions
from sss_emulator.core.roots import private_root
from sss_emulator.errors import EmulatorError

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
    # what the answer was read from, so that a stored answer can be checked (see above)
    "try:\n"
    "    import os, site, sys\n"
    "    dists = [m.distribution(n) for n in ('linkahead', 'caosdb') if out[n] is not None]\n"
    "    custom = [sys.modules.get(n) for n in ('sitecustomize', 'usercustomize')]\n"
    "    out['sources'] = {\n"
    "        'executable': sys.executable,\n"
    "        'path': [os.path.abspath(p) for p in sys.path],\n"
    "        'site': [*getattr(site, 'getsitepackages', list)(),\n"
    "                 *([site.USER_SITE] if site.USER_SITE else [])],\n"
    "        'files': [str(d._path) for d in dists]\n"
    "                 + [getattr(c, '__file__', None) or '' for c in custom if c],\n"
    "    }\n"
    "except Exception:\n"
    "    pass\n"
    "print(json.dumps(out))\n"
)
#: What a probe reads is named by these variables besides the interpreter (``PYTHONPATH``,
#: ``PYTHONHOME``, ``PYTHONUSERBASE``, ``PYTHONNOUSERSITE``, ...).
_ENV_PREFIX = "PYTHON"
#: Answers kept on disk; the oldest go first.
_DISK_ENTRIES = 32
#: The interpreter as named, its environment's PYTHON* variables, the folder, and where the
#: name leads now (a link retargeted to another Python must not keep the old answer).
_CacheKey = tuple[str, tuple[tuple[str, str], ...], str, str]
_CACHE: dict[_CacheKey, ClientInfo | None] = {}
_LOCK = threading.Lock()
#: ``subprocess.Popen`` as it was when this module loaded: the probe is the emulator's own
#: process, which a test's ``fp`` (pytest-subprocess, there to fake what scripts start) must not
#: fake; in a tuple because ``fp`` also replaces module-level names bound to the original.
_REAL_POPEN = (subprocess.Popen,)


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
    name = _shebang_python(script)
    if name is not None:
        return shutil.which(name, path=path) if "/" not in name else name
    return shutil.which("python3", path=path)


#: Scripts' shebang Pythons by path, with the stamp of the file they were read from.
_SHEBANGS: dict[str, tuple[list[int], str | None]] = {}
_SHEBANGS_KEPT = 1024
#: A file's stamp is trusted once its modification time is this far in the past.
_SETTLED_NS = 2_000_000_000


def _shebang_python(script: Path) -> str | None:
    """The Python the script's shebang line names (``python3``, ``/usr/bin/python3.11``), or
    None. Read again only when the file's stamp changed (a ``stat`` instead of reading it)."""
    key = str(script)
    stamp = _stamp(key)
    known = _SHEBANGS.get(key)
    if stamp is not None and known is not None and known[0] == stamp:
        return known[1]
    try:
        with open(key, "rb") as handle:
            first = handle.readline(512)
    except OSError:
        first = b""
    words = first[2:].decode(errors="replace").split() if first.startswith(b"#!") else []
    found = None
    if words:
        name = words[1] if Path(words[0]).name == "env" and len(words) > 1 else words[0]
        if Path(name).name.startswith("python"):
            found = name
    # a file written within the file system's clock tick may change again under the same stamp
    if stamp is not None and stamp[0] < time.time_ns() - _SETTLED_NS:
        if len(_SHEBANGS) >= _SHEBANGS_KEPT:
            _SHEBANGS.clear()
        _SHEBANGS[key] = (stamp, found)
    return found


def detect_client(python: str, env: Mapping[str, str]) -> ClientInfo | None:
    """The client versions ``python`` sees with this environment; None if it cannot say."""
    key: _CacheKey = (os.path.abspath(python),
                      tuple(sorted((k, v) for k, v in env.items() if k.startswith(_ENV_PREFIX))),
                      os.getcwd(), os.path.realpath(python))
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    home = env.get("HOME")
    found, info = _stored(key, home)
    if not found:
        info, sources = _probe(python, env)
        _store(key, info, sources, home)
    with _LOCK:
        _CACHE[key] = info
    return info


def _probe(python: str, env: Mapping[str, str]) -> tuple[ClientInfo | None, Any]:
    """Ask ``python``: its client versions, and what they were read from (None: unknown)."""
    try:
        with _REAL_POPEN[0]([python, "-c", _PROBE], env=dict(env), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as probe:
            try:
                stdout, stderr = probe.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                probe.kill()
                probe.communicate()
                raise
        if probe.returncode == 0:
            data = json.loads(stdout.strip().splitlines()[-1])
            return ClientInfo(data.get("linkahead"), data.get("caosdb")), data.get("sources")
        logger.debug("client probe with %s failed: %s", python, stderr.strip())
    except (OSError, subprocess.SubprocessError, ValueError, IndexError, AttributeError) as exc:
        logger.debug("client probe with %s failed: %s", python, exc)
    return None, None


# --- the answers kept on disk -------------------------------------------------------------------


def _cache_file() -> Path:
    return private_root("cache") / "clients.json"  # checked private: nobody plants answers


def _stamp(path: str) -> list[int] | None:
    """What changes when a file is written (None: it does not exist)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return [info.st_mtime_ns, info.st_size, info.st_ino]


def _relevant(name: str) -> bool:
    """Whether an entry of a ``sys.path`` folder can change the answer: a distribution of a
    client (``importlib.metadata`` only finds one whose file name starts with its name) or a
    ``.pth`` file (it adds to ``sys.path``)."""
    low = name.lower()
    return "linkahead" in low or "caosdb" in low or low.endswith(".pth")


def _folder(path: str) -> Any:
    """A ``sys.path`` entry as the answer depends on it: a folder's relevant entries (with the
    stamps of its ``.pth`` files), a file's (zip) stamp, or None when it is not there."""
    try:
        names = sorted(n for n in os.listdir(path) if _relevant(n))
    except NotADirectoryError:
        return _stamp(path)
    except OSError:
        return None
    return [[n, _stamp(os.path.join(path, n)) if n.endswith(".pth") else None] for n in names]


def _watched(python: str, sources: Any) -> list[list[str]] | None:
    """What the probe's answer was read from, as ``[kind, path]`` (kind ``file``: its stamp;
    ``folder``: see :func:`_folder`); None when the answer must not be kept."""
    if not isinstance(sources, dict):
        return None
    executable, path = sources.get("executable"), sources.get("path")
    site_dirs, files = sources.get("site"), sources.get("files")
    if not (isinstance(executable, str) and isinstance(path, list) and isinstance(site_dirs, list)
            and isinstance(files, list)
            and all(isinstance(p, str) for p in [*path, *site_dirs, *files])):
        return None
    if os.path.realpath(executable) != os.path.realpath(python):
        return None  # a wrapper (a pyenv shim) that may pick another interpreter next time
    folder = os.path.dirname(os.path.abspath(python))
    watched = [["file", os.path.realpath(python)], ["file", os.path.join(folder, "pyvenv.cfg")],
               ["file", os.path.join(os.path.dirname(folder), "pyvenv.cfg")]]
    for name in filter(None, files):  # a client's metadata folder, sitecustomize.py
        watched += [["file", name], ["file", os.path.join(name, "METADATA")],
                    ["file", os.path.join(name, "PKG-INFO")]]
    watched += [["folder", name] for name in dict.fromkeys([*path, *site_dirs])]
    return watched


def _home_relative(watched: list[list[str]], home: str | None) -> list[list[str]]:
    """Paths below the run's HOME as ``~/…``: every run has a HOME of its own."""
    if not home:
        return watched
    prefix = home.rstrip(os.sep) + os.sep
    return [[kind, "~" + name[len(prefix) - 1:] if name.startswith(prefix) else name]
            for kind, name in watched]


def _fingerprint(watched: list[list[str]], home: str | None) -> list[Any]:
    stamps: list[Any] = []
    for kind, name in watched:
        if name.startswith("~/"):
            if not home:
                stamps.append("no HOME")
                continue
            name = os.path.join(home, name[2:])
        stamps.append(_folder(name) if kind == "folder" else _stamp(name))
    return stamps


def _read_disk() -> dict[str, Any]:
    try:
        data = json.loads(_cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError, EmulatorError):
        return {}
    return data if isinstance(data, dict) else {}


def _stored(key: _CacheKey, home: str | None) -> tuple[bool, ClientInfo | None]:
    """The answer kept on disk for ``key`` if nothing it was read from has changed since."""
    entry = _read_disk().get(json.dumps(key))
    if not isinstance(entry, dict):
        return False, None
    watched, stamps, answer = entry.get("watched"), entry.get("stamps"), entry.get("answer")
    try:
        if not isinstance(watched, list) or _fingerprint(watched, home) != stamps:
            return False, None
    except (TypeError, ValueError, AttributeError):  # not written by this version
        return False, None
    if answer is None:
        return True, None
    if not isinstance(answer, list) or len(answer) != 2:
        return False, None
    return True, ClientInfo(answer[0], answer[1])


def _store(key: _CacheKey, info: ClientInfo | None, sources: Any, home: str | None) -> None:
    watched = _watched(key[0], sources)
    if watched is None:
        return
    watched = _home_relative(watched, home)
    entry = {"watched": watched, "stamps": _fingerprint(watched, home),
             "answer": None if info is None else [info.linkahead, info.caosdb]}
    try:
        target = _cache_file()
        data = _read_disk()
        data.pop(json.dumps(key), None)
        data[json.dumps(key)] = entry
        while len(data) > _DISK_ENTRIES:
            data.pop(next(iter(data)))
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".clients-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            os.replace(temporary, target)  # whole or not at all, whoever else writes
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except (OSError, EmulatorError) as exc:
        logger.debug("client answers not kept: %s", exc)
