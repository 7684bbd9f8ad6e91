"""Which LinkAhead client a run's script imports, so its ini holds only what that client accepts.

pylib validates its ini against a closed schema on import: ``linkahead`` before 0.21 and the old
``caosdb`` package reject an ``[Email]`` section (``Additional properties are not allowed
('Email' was unexpected)``), so writing one would break a script that works on the server, while
``linkahead`` 0.21 mails only with one; ``caosdb`` before 0.13 reads ``~/.pycaosdb.ini``, which
makes ``linkahead`` 0.21 exit. So no one ini fits every client, and the question is asked.

It is answered where the script's interpreter would find its client, from the file system, as
``importlib.metadata.version`` does, without starting a Python: the interpreter is the Python of
the script's shebang (for a shell script the ``python3`` on the run's ``PATH``; a pyenv shim is
resolved as pyenv resolves it, :mod:`sss_emulator.connect.pyenv`); its ``sys.path`` is built as
``site`` builds it (``PYTHONPATH``, a venv's ``pyvenv.cfg``, the user site below the run's HOME,
the prefix's site-packages and Debian's dist-packages); the first ``linkahead`` and ``caosdb``
metadata folder on it gives the version. ``.pth`` files are not followed: pip writes a
distribution's metadata into site-packages even for an editable install. Only an interpreter this
cannot read (a wrapper script that is no pyenv shim, a prefix without its standard library) is
started and asked. Answers are kept for the life of the process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sss_emulator import decisions
from sss_emulator.connect.pyenv import file_stamp, pyenv_root, resolve_shim
from sss_emulator.logs import Logger

__all__ = ("ClientInfo", "detect_client", "script_python")

logger = Logger("sss_emulator.connect.clients")

_CLIENTS = ("linkahead", "caosdb")
_PROBE = (
    "import importlib.metadata as m, json\n"
    "def version(name):\n"
    "    try:\n"
    "        return m.version(name)\n"
    "    except m.PackageNotFoundError:\n"
    "        return None\n"
    "print(json.dumps({name: version(name) for name in ('linkahead', 'caosdb')}))\n"
)
#: Answers by interpreter (a shim's: by the one it resolves to) and ``PYTHON*`` variables.
_CACHE: dict[tuple[str, tuple[tuple[str, str], ...]], ClientInfo | None] = {}
#: Whether a file is a script (not an interpreter's binary), and its pyenv root if a shim.
_KINDS: dict[str, tuple[bool, str | None]] = {}
_LOCK = threading.Lock()
#: ``subprocess.Popen`` as it was when this module loaded: asking is the emulator's own process,
#: which a test's ``fp`` (pytest-subprocess, there to fake what scripts start) must not fake; in a
#: tuple because ``fp`` also replaces module-level names bound to the original.
_REAL_POPEN = (subprocess.Popen,)


def _version(text: str | None) -> tuple[int, ...] | None:
    """``"1.2.0rc1"`` -> ``(1, 2, 0)``: the leading numbers count."""
    found = re.match(r"[0-9]+(\.[0-9]+)*", text or "")
    return tuple(int(p) for p in found.group().split(".")) if found else None


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
_SHEBANGS: dict[str, tuple[tuple[int, int, int], str | None]] = {}
_SHEBANGS_KEPT = 1024
#: A file's stamp is trusted once its modification time is this far in the past.
_SETTLED_NS = 2_000_000_000


def _shebang_python(script: Path) -> str | None:
    """The Python the script's shebang line names (``python3``, ``/usr/bin/python3.11``), or
    None. Read again only when the file's stamp changed (a ``stat`` instead of reading it)."""
    key = str(script)
    stamp = file_stamp(key)
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


def detect_client(python: str, env: Mapping[str, str], cwd: str) -> ClientInfo | None:
    """The client versions ``python`` sees when started in ``cwd`` with ``env``; None if it
    cannot say (nor could the script: a shim that finds no interpreter, a probe that fails)."""
    is_script, root = _kind(python)
    if root is not None:
        resolved = resolve_shim(python, root, env, cwd)
        if resolved is None:
            return None
        python = resolved
        is_script, _root = _kind(python)
    key = (os.path.abspath(python),
           tuple(sorted((k, v) for k, v in env.items() if k.startswith("PYTHON"))))
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    folders = None if is_script else _sys_path(python, env)
    info = _ask(python, env, cwd) if folders is None else _read_versions(folders)
    with _LOCK:
        _CACHE[key] = info
    return info


def _kind(python: str) -> tuple[bool, str | None]:
    """Whether ``python`` is a script (not a binary), and its pyenv root if it is a shim."""
    known = _KINDS.get(python)
    if known is None:
        try:
            with open(python, "rb") as handle:
                head = handle.read(1024)
        except OSError:
            head = b""
        known = _KINDS[python] = (head.startswith(b"#!"), pyenv_root(head))
    return known


def _sys_path(python: str, env: Mapping[str, str]) -> list[str] | None:
    """The folders ``python``'s ``sys.path`` holds besides its standard library, in order; None
    when its standard library is not where it would look for it."""
    real = os.path.realpath(python)
    venv = os.path.dirname(os.path.dirname(os.path.abspath(python)))
    config = _pyvenv_cfg(venv, os.path.dirname(os.path.abspath(python)))
    home = config.get("home") if config else None
    base = (env.get("PYTHONHOME", "").split(os.pathsep)[0]
            or os.path.dirname(home.rstrip("/") if home else os.path.dirname(real)))
    found = re.fullmatch(r"python(\d+\.\d+)", os.path.basename(real))
    version = found.group(1) if found else None
    if version is None and config:
        version = ".".join(config.get("version", config.get("version_info", "")).split(".")[:2])
    if not version or not any(os.path.isfile(os.path.join(base, lib, f"python{version}", "os.py"))
                              for lib in ("lib", "lib64")):
        return None
    folders = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if config is not None:
        folders += _site_packages(venv, version)
        if config.get("include-system-site-packages", "false").lower() != "true":
            return folders
    if not env.get("PYTHONNOUSERSITE"):
        user_base = env.get("PYTHONUSERBASE") or os.path.join(env.get("HOME", "~"), ".local")
        folders.append(os.path.join(user_base, "lib", f"python{version}", "site-packages"))
    return folders + _site_packages(base, version)


def _pyvenv_cfg(*folders: str) -> dict[str, str] | None:
    for folder in folders:
        try:
            with open(os.path.join(folder, "pyvenv.cfg"), encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except OSError:
            continue
        pairs = [line.partition("=") for line in lines if "=" in line]
        return {key.strip().lower(): value.strip() for key, _eq, value in pairs}
    return None


def _site_packages(prefix: str, version: str) -> list[str]:
    """A prefix's site folders: the standard ones, then Debian's."""
    return [os.path.join(prefix, "lib", f"python{version}", "site-packages"),
            os.path.join(prefix, "lib64", f"python{version}", "site-packages"),
            os.path.join(prefix, "local", "lib", f"python{version}", "dist-packages"),
            os.path.join(prefix, "lib", "python3", "dist-packages"),
            os.path.join(prefix, "lib", f"python{version}", "dist-packages")]


def _read_versions(folders: list[str]) -> ClientInfo:
    """The version of the first distribution of each client found in ``folders``."""
    versions: dict[str, str | None] = dict.fromkeys(_CLIENTS)
    for folder in dict.fromkeys(folders):
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            low = name.lower()
            client = low.partition("-")[0].partition(".")[0]
            if (client in versions and versions[client] is None
                    and low.endswith((".dist-info", ".egg-info"))):
                versions[client] = _metadata_version(os.path.join(folder, name))
    return ClientInfo(versions["linkahead"], versions["caosdb"])


def _metadata_version(path: str) -> str | None:
    """The ``Version:`` of a ``.dist-info``/``.egg-info`` folder's (or an egg-info file's)
    metadata, else the one in its name."""
    for name in ("METADATA", "PKG-INFO", ""):
        try:
            with open(os.path.join(path, name) if name else path, encoding="utf-8",
                      errors="replace") as handle:
                for line in handle:
                    if line.startswith("Version:"):
                        return line[8:].strip()
                    if not line.strip():
                        break
        except OSError:
            continue
    parts = os.path.basename(path).rsplit(".", 1)[0].split("-")
    return parts[1] if len(parts) > 1 else None


def _ask(python: str, env: Mapping[str, str], cwd: str) -> ClientInfo | None:
    """Start ``python`` in ``cwd`` and ask it; None if that fails."""
    try:
        with _REAL_POPEN[0]([python, "-c", _PROBE], env=dict(env), cwd=cwd,
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as probe:
            try:
                stdout, stderr = probe.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                probe.kill()
                probe.communicate()
                raise
        if probe.returncode == 0:
            data = json.loads(stdout.strip().splitlines()[-1])
            return ClientInfo(data.get("linkahead"), data.get("caosdb"))
        logger.debug("client probe with %s failed: %s", python, stderr.strip())
    except (OSError, subprocess.SubprocessError, ValueError, IndexError, AttributeError) as exc:
        logger.debug("client probe with %s failed: %s", python, exc)
    return None
