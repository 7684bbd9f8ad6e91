"""Pythons with the LinkAhead clients a test needs, made on disk as pip and pyenv make them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: This interpreter's binary (a venv's ``python3`` links to it) and its ``X.Y``.
BASE_PYTHON = Path(os.path.realpath(sys.executable))
VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"


def install(folder: Path, name: str, version: str) -> Path:
    """A distribution's metadata folder, as pip leaves it in site-packages."""
    dist = folder / f"{name}-{version}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return dist


def make_venv(folder: Path, *, system_site: bool = False, **clients: str) -> Path:
    """A virtual environment as ``python -m venv`` makes one (without pip), with the given
    clients (name=version) installed; returns its ``bin/python3``."""
    (folder / "bin").mkdir(parents=True)
    python = folder / "bin" / "python3"
    python.symlink_to(BASE_PYTHON)
    (folder / "pyvenv.cfg").write_text(
        f"home = {BASE_PYTHON.parent}\n"
        f"include-system-site-packages = {str(system_site).lower()}\n"
        f"version = {'.'.join(map(str, sys.version_info[:3]))}\n")
    site = folder / "lib" / f"python{VERSION}" / "site-packages"
    site.mkdir(parents=True)
    for name, version in clients.items():
        install(site, name, version)
    return python


def make_pyenv(root: Path, versions: dict[str, dict[str, str]], pyenv: str,
               global_version: str | None = None) -> Path:
    """A pyenv root: ``versions/<v>`` a venv each with its clients, the global ``version`` file,
    and the ``python3`` shim as ``pyenv rehash`` writes it, handing over to the program
    ``pyenv`` (the real ``libexec/pyenv``, or a stand-in); returns the shims folder."""
    root.mkdir(parents=True, exist_ok=True)
    for name, clients in versions.items():
        make_venv(root / "versions" / name, **clients)
    if global_version is not None:
        (root / "version").write_text(global_version + "\n")
    shims = root / "shims"
    shims.mkdir(parents=True)
    shim = shims / "python3"
    shim.write_text(
        "#!/usr/bin/env bash\nset -e\n[ -n \"$PYENV_DEBUG\" ] && set -x\n\n"
        "program=\"${0##*/}\"\n\n"
        f"export PYENV_ROOT=\"{root}\"\nSHIM_PATH=${{0%/*}}\n"
        f"if [[ $SHIM_PATH != \"{shims}\" ]]; then\n  export _PYENV_SHIM_PATH=\"$SHIM_PATH\"\nfi\n"
        f"exec \"{pyenv}\" exec \"$program\" \"$@\"\n")
    shim.chmod(0o755)
    return shims
