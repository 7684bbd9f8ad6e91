"""The server's bind mounts as a ``linkahead-control`` profile declares them (docker compose).

A linkahead-control 1.0 profile folder holds ``compose.*.yaml`` override files (applied in sorted
order) and may hold ``server_customization.yaml``; their ``services: linkahead-server: volumes:``
entries bind host folders into the server's container, e.g. the demo profile's
``./paths/extroot:$LA_SERVER_MOUNT_EXTROOT:ro``. This reads them as compose would: relative
sources from the file's folder, ``$VAR``/``${VAR}``/``${VAR:-default}`` from the environment and
the profile's ``.env.custom``. Named volumes (the file store, the database) are not host folders
and are left out. ``LA_SERVER_MOUNT_EXTROOT`` is defined nowhere in linkahead-control 1.0, so it
stands for the in-container extroot path the user chose (default ``/opt/caosdb/mnt/extroot``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sss_emulator.config.files import load_yaml

__all__ = ("EXTROOT_VARIABLE", "ComposeMount", "profile_mounts")

#: The variable the demo profile's ``compose.mount.yaml`` binds the extroot at.
EXTROOT_VARIABLE = "LA_SERVER_MOUNT_EXTROOT"
_SERVICE = "linkahead-server"
_EXTRA_FILES = ("server_customization.yaml",)
_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::?-([^}]*))?\}|(\w+))")


@dataclass(frozen=True)
class ComposeMount:
    """One bind mount of the server's container."""

    source: Path
    target: str
    read_only: bool
    origin: str


def _env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if path.is_file():
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            key, sep, value = line.partition("=")
            if sep and key and not line.startswith("#"):
                values[key.strip()] = value.strip().strip("'\"")
    return values


def _expand(text: str, variables: Mapping[str, str]) -> str | None:
    """``text`` with its variables replaced, or None if one has no value (compose: empty)."""
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1) or match.group(3)
        if name in variables and variables[name] != "":
            return variables[name]
        if match.group(2) is not None:
            return match.group(2)
        missing = True
        return ""

    expanded = _VARIABLE.sub(replace, text)
    return None if missing else expanded


def _entries(volume: Any) -> tuple[str, str, bool] | None:
    """``(source, target, read_only)`` of a short or long volume entry."""
    if isinstance(volume, str):
        parts = volume.split(":")
        if len(parts) < 2:
            return None
        return parts[0], parts[1], any("ro" in p.split(",") for p in parts[2:])
    if isinstance(volume, Mapping) and volume.get("type", "bind") == "bind":
        source, target = volume.get("source"), volume.get("target")
        if isinstance(source, str) and isinstance(target, str):
            return source, target, bool(volume.get("read_only"))
    return None


def profile_mounts(root: Path, extroot_path: str, environ: Mapping[str, str] | None = None,
                   ) -> tuple[tuple[ComposeMount, ...], tuple[str, ...]]:
    """The bind mounts of the profile at ``root`` and notes on the entries left out."""
    environ = os.environ if environ is None else environ
    variables = {EXTROOT_VARIABLE: extroot_path, **_env_file(root / ".env.custom"), **environ}
    if not environ.get(EXTROOT_VARIABLE):
        variables[EXTROOT_VARIABLE] = extroot_path  # the user's choice beats .env.custom's
    files = sorted(root.glob("compose.*.yaml")) + [root / n for n in _EXTRA_FILES]
    mounts: dict[str, ComposeMount] = {}
    notes: list[str] = []
    for path in files:
        if not path.is_file():
            continue
        document = load_yaml(path, "compose file")
        services = document.get("services") if isinstance(document, Mapping) else None
        service = services.get(_SERVICE) if isinstance(services, Mapping) else None
        volumes = service.get("volumes") if isinstance(service, Mapping) else None
        for volume in volumes if isinstance(volumes, list) else ():
            entry = _entries(volume)
            if entry is None:
                continue
            raw_source, raw_target, read_only = entry
            source, target = _expand(raw_source, variables), _expand(raw_target, variables)
            if source is None or not target:
                notes.append(f"{path.name}: mount {raw_source}:{raw_target} skipped: a variable "
                             "in it has no value (set it in the environment or .env.custom)")
                continue
            if not source.startswith((".", "/", "~")):
                continue  # a named volume, not a host folder
            host = (path.parent / os.path.expanduser(source)).absolute()
            if not target.startswith("/"):
                continue
            mounts[target.rstrip("/") or "/"] = ComposeMount(host, target.rstrip("/"), read_only,
                                                             path.name)
    return tuple(mounts.values()), tuple(notes)
