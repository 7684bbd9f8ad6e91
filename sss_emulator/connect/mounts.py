"""The server's file mounts for a script: a private mount namespace per run (``--mounts``).

On a deployment the script runs inside the server's container, where the profile's extroot is
mounted at ``/opt/caosdb/mnt/extroot`` (or ``/linkahead/...`` in newer images) and the server's
file store at ``/opt/caosdb/mnt/caosroot``; scripts hard-code those paths. :class:`MountingRunner`
wraps the process runner so that each script starts inside ``bwrap`` (bubblewrap), which shows it
the whole host file system as it is plus those folders bound at the server's paths, for that
process alone.

Nothing is created on the host: a missing mount point (``/opt/caosdb/...``) is made inside a
tmpfs laid over its deepest existing ancestor (``/opt``), whose original entries are bound back
into the tmpfs. ``--dev-bind`` keeps device nodes usable; no ``--new-session`` (the runner stops
the script by its process group) and no ``--die-with-parent`` (``bwrap`` dies at once on SIGTERM
without forwarding it, which would SIGKILL the script before its own cleanup). Where the machine
does not allow the namespace, the run is refused with one line that says what to enable.

Without bubblewrap the same mounts are made by :mod:`.nsexec`, a standard-library program that
makes the namespace itself (``unshare``) and then ``exec``s the script.
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sss_emulator import decisions
from sss_emulator.core.runner import ProcessResult, run_process
from sss_emulator.errors import ConfigError, SetupError

if TYPE_CHECKING:
    import threading

    from sss_emulator import decisions
    from sss_emulator.core.hooks import ProcessRunner
from sss_emulator.core.runner import StreamSink

__all__ = (
    "DEFAULT_CAOSROOT_PATH",
    "DEFAULT_EXTROOT_PATH",
    "NSEXEC",
    "Mechanism",
    "Mount",
    "MountingRunner",
    "bwrap_argv",
    "check_namespaces",
    "describe",
    "namespace_hint",
)

#: The server's paths scripts hard-code (``--extroot-path``/``--caosroot-path`` change them).
DEFAULT_EXTROOT_PATH = decisions.EXTROOT_PATH
DEFAULT_CAOSROOT_PATH = decisions.CAOSROOT_PATH


@dataclass(frozen=True)
class Mount:
    """A host folder (or file) the script sees at ``target``."""

    source: Path
    target: str
    read_only: bool = False
    origin: str = ""
    """Where the mount was configured, for messages (``--extroot``, ``compose.mount.yaml``)."""


def _resolve_existing(path: str) -> str:
    """realpath() of the deepest existing ancestor plus the missing rest, so that a symlinked
    ``/opt -> /var/opt`` is shadowed where it really lives."""
    rest: list[str] = []
    current = os.path.normpath(path)
    while not os.path.lexists(current):
        rest.append(os.path.basename(current))
        current = os.path.dirname(current)
    return os.path.join(os.path.realpath(current), *reversed(rest))


def _missing_dirs(path: str) -> list[str]:
    missing: list[str] = []
    current = os.path.dirname(path)
    while not os.path.isdir(current):
        missing.append(current)
        current = os.path.dirname(current)
    return list(reversed(missing))


def bwrap_argv(mounts: Sequence[Mount], bwrap: str = "bwrap") -> list[str]:
    """The ``bwrap`` command line (ending in ``--``) that puts ``mounts`` in place.

    Every target whose parent folder is missing on the host gets a tmpfs over the deepest
    existing ancestor, with that ancestor's entries bound back (symlinks re-made), so the host
    is never written to; an existing target is simply bound over.
    """
    by_target = {_resolve_existing(m.target): m for m in mounts}
    shadows: dict[str, set[str]] = {}  # existing ancestor -> its missing children on our paths
    for target in sorted(by_target):
        if os.path.exists(target) and not os.path.islink(target):
            continue
        child = target
        while not os.path.isdir(os.path.dirname(child)):
            child = os.path.dirname(child)
        shadows.setdefault(os.path.dirname(child), set()).add(child)
    args = [bwrap]
    if "/" not in shadows:
        args += ["--dev-bind", "/", "/"]
    for parent, children in sorted(shadows.items()):
        if parent != "/":  # bwrap's own root is a tmpfs already
            mode = stat.S_IMODE(os.stat(parent).st_mode)
            args += ["--perms", f"{mode:04o}", "--tmpfs", parent]
        for name in sorted(os.listdir(parent)):
            entry = os.path.join(parent, name)
            if entry in children:
                continue
            if os.path.islink(entry):
                args += ["--symlink", os.readlink(entry), entry]
            else:
                args += ["--dev-bind", entry, entry]
    made: set[str] = set()
    for target, mount in sorted(by_target.items()):
        for folder in _missing_dirs(target):
            if folder not in made:  # bwrap would make them 0700
                args += ["--perms", "0755", "--dir", folder]
                made.add(folder)
        made.add(target)
        args += ["--ro-bind" if mount.read_only else "--bind", str(mount.source), target]
    if os.geteuid() == 0:
        args += ["--cap-add", "ALL"]  # root keeps root's powers, as without the namespace
    return [*args, "--"]


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return None


def namespace_hint() -> str:
    """What to enable so that user and mount namespaces work (from the sysctls that block them)."""
    if _read("/proc/sys/kernel/unprivileged_userns_clone") == "0":
        return "enable them with: sudo sysctl -w kernel.unprivileged_userns_clone=1"
    if _read("/proc/sys/user/max_user_namespaces") == "0":
        return "enable them with: sudo sysctl -w user.max_user_namespaces=15000"
    if _read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
        return ("enable them with: sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 "
                "(or an AppArmor profile for bwrap with 'userns,')")
    return ("user namespaces are blocked here (a container's seccomp filter or a missing "
            "CAP_SYS_ADMIN?): run the container with --security-opt seccomp=unconfined "
            "--cap-add SYS_ADMIN (or --privileged)")


@functools.cache
def _probe(command: tuple[str, ...]) -> str | None:
    """None when ``command`` (a namespace made and left at once) works here, else its
    complaint; cached per process: the machine does not change its mind between runs."""
    try:
        done = subprocess.run(list(command), capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    text = done.stderr.decode(errors="replace").strip().splitlines()
    return text[0] if text else f"{command[0]} exited with {done.returncode}"


#: The fallback without bubblewrap: a standard-library program run as ``python -I -S``.
NSEXEC = Path(__file__).with_name("nsexec.py")


@dataclass(frozen=True)
class Mechanism:
    """How the namespace is made: ``bwrap`` (its path) or ``nsexec`` (the Python to run it)."""

    kind: str
    program: str

    def argv(self, mounts: Sequence[Mount]) -> list[str]:
        if self.kind == "bwrap":
            return bwrap_argv(mounts, self.program)
        words = [self.program, "-I", "-S", str(NSEXEC)]
        for mount in mounts:
            words += ["--ro-bind" if mount.read_only else "--bind", str(mount.source),
                      mount.target]
        return [*words, "--"]


def check_namespaces(bwrap: str | None = None) -> Mechanism:
    """bwrap where it is installed, else the ``nsexec`` fallback; :class:`SetupError` with one
    line saying what to install or enable when the machine allows neither."""
    program = bwrap or shutil.which("bwrap")
    if program is not None:
        problem = _probe((program, "--dev-bind", "/", "/", "--", "true"))
        if problem is None:
            return Mechanism("bwrap", program)
        raise SetupError(f"--mounts: this machine does not let bwrap make a mount namespace "
                         f"({problem.removeprefix('bwrap: ')}); {namespace_hint()}; or run "
                         "without --mounts.")
    problem = _probe((sys.executable, "-I", "-S", str(NSEXEC), "--probe"))
    if problem is None:
        return Mechanism("nsexec", sys.executable)
    raise SetupError(f"--mounts needs bubblewrap (apt-get install bubblewrap) or user "
                     f"namespaces, which this machine does not allow ({problem}); "
                     f"{namespace_hint()}; or run without --mounts.")


def _check_sources(mounts: Iterable[Mount]) -> None:
    for mount in mounts:
        if not mount.source.exists():
            origin = f" ({mount.origin})" if mount.origin else ""
            raise ConfigError(f"Mount source {mount.source}{origin} does not exist; create it "
                              f"or fix the path that should appear at {mount.target}.")


def _start_failed(result: ProcessResult) -> bool:
    """Whether bwrap or nsexec could not execute the script (what they leave then)."""
    return ((result.returncode == 1 and result.stderr.startswith(b"bwrap: execvp "))
            or (result.returncode == 127
                and result.stderr.startswith(b"nsexec: cannot execute ")))


class MountingRunner:
    """A :class:`~sss_emulator.core.hooks.ProcessRunner` that starts each script in ``bwrap``
    with ``mounts``; the wrapped ``inner`` runner (default ``run_process``) does the rest.

    The namespace check runs on the first script (once per process), so an emulator that is
    built but never runs anything costs nothing and cannot fail for it.
    """

    def __init__(self, mounts: Sequence[Mount], inner: ProcessRunner | None = None,
                 bwrap: str | None = None) -> None:
        self.mounts = tuple(mounts)
        self.inner: ProcessRunner = inner or run_process
        self._bwrap = bwrap
        self._mechanism: Mechanism | None = None

    def around(self, inner: ProcessRunner) -> MountingRunner:
        """The same mounts around another runner (the pytest plugin swaps runners per run)."""
        runner = MountingRunner(self.mounts, inner, self._bwrap)
        runner._mechanism = self._mechanism
        return runner

    def prefix(self) -> list[str]:
        """The ``bwrap ... --`` words put before the script's argv."""
        if self._mechanism is None:
            self._mechanism = check_namespaces(self._bwrap)
        _check_sources(self.mounts)
        return self._mechanism.argv(self.mounts)

    def __call__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        timeout: float | None,
        on_stdout: StreamSink | None = None,
        on_stderr: StreamSink | None = None,
        cancel: threading.Event | None = None,
    ) -> ProcessResult:
        # bwrap runs the script by name: one that cannot start must still say so as a direct
        # start does (an OSError the core turns into "check its shebang line").
        _check_startable(argv[0])
        result = self.inner([*self.prefix(), *argv], cwd=cwd, env=env, timeout=timeout,
                            on_stdout=on_stdout, on_stderr=on_stderr, cancel=cancel)
        if _start_failed(result):
            detail = result.stderr.decode(errors="replace").strip().rpartition(": ")[2]
            raise OSError(errno.ENOENT, detail or "cannot execute", argv[0])
        return result


def _check_startable(program: str) -> None:
    path = Path(program)
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
    with path.open("rb") as handle:
        head = handle.read(256)
    if head.startswith(b"#!"):
        words = head[2:].split(b"\n", 1)[0].split()
        if words and not os.access(os.fsdecode(words[0]), os.X_OK):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT),
                                    os.fsdecode(words[0]))


def describe(mounts: Sequence[Mount]) -> str:
    """``/opt/caosdb/mnt/extroot <- /data (ro), ...`` for notes."""
    return ", ".join(f"{m.target} <- {m.source}{' (ro)' if m.read_only else ''}" for m in mounts)
