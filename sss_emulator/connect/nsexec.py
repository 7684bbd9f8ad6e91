"""Run a command in a private mount namespace with extra bind mounts, without bubblewrap.

The fallback of :mod:`sss_emulator.connect.mounts` where ``bwrap`` is not installed. It runs as
its own program (``python -I -S nsexec.py --bind SRC DST [--ro-bind SRC DST] -- CMD ...``) with
the standard library only, and ``exec``s the command, so the script keeps this process's pid,
process group, exit code and signals exactly as a direct start.

* root: ``unshare(CLONE_NEWNS)``; a root without CAP_SYS_ADMIN (a container) and every other
  user: ``unshare(CLONE_NEWUSER | CLONE_NEWNS)`` with the identity map, so the script keeps its
  own uid and gid.
* ``/`` is made a slave mount first: nothing mounted here reaches the host.
* A missing target is made inside a tmpfs over its deepest existing parent, whose entries are
  bound back from a descriptor opened before the tmpfs; the host gains nothing.

``--probe`` exits 0 when the namespace can be made here, else prints why and exits 1.
"""

from __future__ import annotations

import ctypes
import os
import stat
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_SLAVE = 1 << 19
_LOCKED = 2 | 4 | 8  # nosuid, nodev, noexec: a remount in a user namespace must keep them

_libc = ctypes.CDLL("libc.so.6", use_errno=True)  # not find_library: it forks ldconfig
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.unshare.argtypes = [ctypes.c_int]


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


def _check(result: int, what: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")


def mount(source: str | None, target: str, fstype: str | None = None, flags: int = 0,
          data: str | None = None) -> None:
    _check(_libc.mount(_bytes(source), _bytes(target), _bytes(fstype), flags, _bytes(data)),
           f"mount {source} on {target}")


def enter_namespace() -> None:
    """A private mount namespace (and a user namespace where one is needed)."""
    uid, gid = os.geteuid(), os.getegid()
    if uid != 0 or _libc.unshare(CLONE_NEWNS) != 0:
        _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare(CLONE_NEWUSER|CLONE_NEWNS)")
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                           ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w", encoding="ascii") as handle:
                handle.write(text)
    mount(None, "/", None, MS_REC | MS_SLAVE)


def _existing(path: str) -> str:
    rest: list[str] = []
    current = os.path.normpath(path)
    while not os.path.lexists(current):
        rest.append(os.path.basename(current))
        current = os.path.dirname(current)
    return os.path.join(os.path.realpath(current), *reversed(rest))


def _mkdirs(path: str) -> None:
    missing: list[str] = []
    while not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for folder in reversed(missing):
        os.mkdir(folder, 0o755)


def setup(binds: list[tuple[str, str, bool]]) -> None:
    """Shadow the parents of missing targets with tmpfs, then bind every source."""
    shadows: dict[str, set[str]] = {}
    for _source, target, _ro in binds:
        if os.path.exists(target) and not os.path.islink(target):
            continue
        child = target
        while not os.path.isdir(os.path.dirname(child)):
            child = os.path.dirname(child)
        shadows.setdefault(os.path.dirname(child), set()).add(os.path.basename(child))
    for parent, skip in sorted(shadows.items()):
        if parent == "/":
            raise OSError(0, f"no folder above {sorted(skip)} exists to lay a tmpfs over")
        names = sorted(set(os.listdir(parent)) - skip)
        handle = os.open(parent, os.O_PATH | os.O_DIRECTORY)
        mode = stat.S_IMODE(os.stat(parent).st_mode)
        mount("tmpfs", parent, "tmpfs", 0, f"mode={mode:o}")
        for name in names:
            source, target = f"/proc/self/fd/{handle}/{name}", os.path.join(parent, name)
            info = os.lstat(source)
            if stat.S_ISLNK(info.st_mode):
                os.symlink(os.readlink(source), target)
                continue
            if stat.S_ISDIR(info.st_mode):
                os.mkdir(target)
            else:
                open(target, "w").close()
            mount(source, target, None, MS_BIND | MS_REC)
        os.close(handle)
    for source, target, read_only in binds:
        if os.path.isdir(source):
            _mkdirs(target)
        else:
            _mkdirs(os.path.dirname(target))
            if not os.path.exists(target):
                open(target, "w").close()
        mount(source, target, None, MS_BIND | MS_REC)
        if read_only:
            kept = os.statvfs(target).f_flag & _LOCKED
            mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | kept)


def probe() -> str | None:
    """None when the namespace can be made here, else why not (tried in a child)."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        try:
            enter_namespace()
        except OSError as exc:
            os.write(writer, (exc.strerror or str(exc)).encode())
            os._exit(1)
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        message = pipe.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    return None if os.waitstatus_to_exitcode(status) == 0 else message or "unshare failed"


def main(argv: list[str]) -> int:
    if argv[:1] == ["--probe"]:
        problem = probe()
        if problem is not None:
            print(problem, file=sys.stderr)
        return 0 if problem is None else 1
    binds: list[tuple[str, str, bool]] = []
    index = 0
    while index < len(argv) and argv[index] != "--":
        if argv[index] in ("--bind", "--ro-bind") and index + 2 < len(argv):
            binds.append((os.path.abspath(argv[index + 1]), _existing(argv[index + 2]),
                          argv[index] == "--ro-bind"))
            index += 3
        else:
            print(f"nsexec: unknown argument {argv[index]!r}", file=sys.stderr)
            return 126
    command = argv[index + 1:]
    if not command:
        print("nsexec: no command after --", file=sys.stderr)
        return 126
    cwd = os.getcwd()
    try:
        enter_namespace()
        setup(binds)
        os.chdir(cwd)
    except OSError as exc:
        print(f"nsexec: cannot prepare the mounts: {exc.strerror or exc}", file=sys.stderr)
        return 126
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        print(f"nsexec: cannot execute {command[0]}: {exc.strerror}", file=sys.stderr)
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
