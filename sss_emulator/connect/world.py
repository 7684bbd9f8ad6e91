"""What a script sees of the server's container, from the settings: the server's address
(:mod:`.address`) and its file mounts (:mod:`.mounts`). Both are opt-in; without them a run is
exactly as before.

:func:`server_world` reads the settings once; :meth:`ServerWorld.equip` adds the hooks and the
process-runner wrapper to an emulator's parts. The stand-in's stored files appear at the
caosroot path through a folder the stand-in writes every stored file to (its file root).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sss_emulator import decisions
from sss_emulator.config.compose import EXTROOT_VARIABLE, profile_mounts
from sss_emulator.connect.address import ServerAddress, resolve_address
from sss_emulator.connect.mounts import Mount, MountingRunner, describe
from sss_emulator.core.roots import owned_dir

if TYPE_CHECKING:
    from sss_emulator.config import Settings
    from sss_emulator.core.hooks import ProcessRunner, RunContext
    from sss_emulator.core.outcome import RunOutcome

__all__ = ("FileRoot", "ServerWorld", "equip", "server_world")


@dataclass(frozen=True)
class ServerWorld:
    """The resolved address and mounts of a run (both may be off)."""

    address: ServerAddress | None = None
    mounts_on: bool = False
    mounts: tuple[Mount, ...] = ()
    """Configured mounts (extroot, the profile's); the caosroot and certificate come per
    emulator."""
    caosroot_path: str = decisions.CAOSROOT_PATH
    notes: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.address is not None or self.mounts_on

    def all_mounts(self, file_root: Path | None, cert: Path | None) -> tuple[Mount, ...]:
        """The configured mounts plus the stand-in's file store and its certificate."""
        extra: list[Mount] = []
        if file_root is not None:
            extra.append(Mount(file_root, self.caosroot_path, False, "the stand-in's files"))
        if cert is not None:
            extra.append(Mount(cert, decisions.SERVER_CERT_PATH, True, "the stand-in's cert"))
        taken = {m.target for m in extra}
        return (*(m for m in self.mounts if m.target not in taken), *extra)

    def runner(self, inner: ProcessRunner, file_root: Path | None,
               cert: Path | None) -> ProcessRunner:
        """``inner`` with the mount namespace, or ``inner`` itself with mounts off.

        The namespace goes around the innermost runner of a chain of wrappers that keep theirs
        in ``.inner`` (``--coverage``'s): they must still see the script's own argv, and
        ``bwrap`` must start what they made of it.
        """
        if not self.mounts_on:
            return inner
        mounts = self.all_mounts(file_root, cert)
        holder: Any = inner
        if not hasattr(holder, "inner"):
            return MountingRunner(mounts, inner)
        while hasattr(holder.inner, "inner"):
            holder = holder.inner
        holder.inner = MountingRunner(mounts, holder.inner)
        return inner


class FileRoot:
    """A private folder the stand-in keeps its stored files in, removed when the emulator
    closes (a hook with nothing to do per run), or by the next start if this process is
    killed first (:func:`~sss_emulator.core.roots.owned_dir`)."""

    def __init__(self) -> None:
        self.path = owned_dir("caosroot")

    def before_run(self, context: RunContext) -> None:
        """Nothing per run: the stand-in writes the files as scripts store them."""

    def after_run(self, context: RunContext, outcome: RunOutcome) -> RunOutcome:
        return outcome

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def server_world(settings: Settings, environ: Mapping[str, str] | None = None) -> ServerWorld:
    """The address and mounts the settings ask for (``server_address``, ``mounts``,
    ``extroot``, ``extroot_path``, ``caosroot_path``; the profile's compose files)."""
    values = settings.values
    address = resolve_address(values.get("server_address"), settings.home)
    mounts_on = bool(values.get("mounts"))
    extroot_path = values.get("extroot_path") or decisions.EXTROOT_PATH
    caosroot_path = values.get("caosroot_path") or decisions.CAOSROOT_PATH
    mounts: list[Mount] = []
    notes: list[str] = []
    if mounts_on:
        root = settings.profile.root if settings.profile is not None else None
        if root is not None:
            found, skipped = profile_mounts(root, extroot_path, environ)
            notes.extend(skipped)
            mounts.extend(Mount(m.source, m.target, m.read_only, m.origin) for m in found)
        extroot = values.get("extroot")
        if extroot:
            source = settings.sources.get("extroot", "--extroot")
            mounts = [m for m in mounts if m.target != extroot_path]
            mounts.append(Mount(Path(extroot).absolute(), extroot_path, True, source))
        if not any(m.target == extroot_path or m.target.startswith(extroot_path + "/")
                   for m in mounts):
            notes.append(f"no extroot is configured (--extroot, or a profile binding "
                         f"${EXTROOT_VARIABLE}); {extroot_path} is not there for the script")
        notes.append(f"the script runs in a mount namespace: {describe(mounts) or 'no folders'}"
                     f", and the stand-in's files at {caosroot_path}")
    return ServerWorld(address, mounts_on, tuple(mounts), caosroot_path, tuple(notes))


def equip(world: ServerWorld | None, hooks: list[Any], standin_hook: Any | None,
          runner: ProcessRunner) -> ProcessRunner:
    """Add the address hook (after ``standin_hook``) and the file root to ``hooks``; return the
    runner the emulator uses (``runner`` in a mount namespace when mounts are on)."""
    from sss_emulator.connect.address import ServerAddressHook

    if world is None or not world.active:
        return runner
    file_root: Path | None = None
    cert: Path | None = None
    if standin_hook is not None:
        if world.mounts_on:
            holder = FileRoot()
            hooks.append(holder)
            file_root = holder.path
            standin_hook.file_root = file_root
        if world.address is not None:
            address_hook = ServerAddressHook(standin_hook, world.address)
            hooks.insert(hooks.index(standin_hook) + 1, address_hook)
            cert = address_hook.listener.cert
    return world.runner(runner, file_root, cert)
