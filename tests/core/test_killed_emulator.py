"""Issue 20, point 8: nothing a script started outlives the emulator that started it.

Each test starts an emulator as a real process (the CLI, ``serve``, watch mode, a pytest
session with the plugin, a Python program using ``Emulator``), lets a script start a child and
a ``setsid`` daemon with a child of its own, SIGKILLs the emulator (as ``timeout -s KILL`` or
the OOM killer would) and waits, boundedly, for all of them to be gone, with no later start of
the emulator to sweep them.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from process_helpers import gone

#: Writes its pid, its child's, a setsid daemon's and that daemon's child's into the folder
#: given as its last argument, then loops until stopped.
LOOP = """#!/bin/bash
dir="${!#}"
sleep 300 &
echo $! > "$dir/child.tmp" && mv "$dir/child.tmp" "$dir/child"
setsid bash -c 'sleep 301 & echo $! > "$1/grandchild.tmp" && mv "$1/grandchild.tmp" "$1/grandchild"
  echo $$ > "$1/daemon.tmp" && mv "$1/daemon.tmp" "$1/daemon"; wait' _ "$dir" &
echo $$ > "$dir/script.tmp" && mv "$dir/script.tmp" "$dir/script"
echo ready
while :; do sleep 1; done
"""
NAMES = ("script", "child", "daemon", "grandchild")
WAIT_S = 60.0


@pytest.fixture
def loop(make_script: Any, tmp_path: Path) -> tuple[Path, Path]:
    """The looping script and the (unwatched) folder it writes its pids to."""
    pids = tmp_path / "pids"
    pids.mkdir()
    return make_script("loop.sh", LOOP), pids


@pytest.fixture
def env(roots: dict[str, Path]) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    environ.update(SSS_WORK_ROOT=str(roots["work_root"]),
                   SSS_SHARED_ROOT=str(roots["shared_root"]))
    return environ


def _started(folder: Path, emulator: subprocess.Popen[Any]) -> list[int]:
    """The pids the script wrote, once all four are there (bounded by :data:`WAIT_S`)."""
    deadline = time.monotonic() + WAIT_S
    while not all((folder / name).exists() for name in NAMES):
        if emulator.poll() is not None:
            raise AssertionError(f"the emulator ended early ({emulator.returncode})")
        if time.monotonic() >= deadline:
            raise AssertionError(f"the script did not start: {sorted(os.listdir(folder))}")
        time.sleep(0.05)
    return [int((folder / name).read_text()) for name in NAMES]


@contextlib.contextmanager
def _killed_after(emulator: subprocess.Popen[Any], folder: Path) -> Iterator[list[int]]:
    """SIGKILL ``emulator`` once its script runs; yields the script's pids. Whatever is left
    at the end is killed, so a failing test leaves nothing behind."""
    pids: list[int] = []
    try:
        pids.extend(_started(folder, emulator))
        emulator.kill()
        emulator.wait(timeout=WAIT_S)
        yield pids
    finally:
        with contextlib.suppress(ProcessLookupError):
            emulator.kill()
        emulator.wait(timeout=WAIT_S)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def _left(pids: list[int]) -> str:
    return ", ".join(f"{name} {pid}" for name, pid in zip(NAMES, pids, strict=True)
                     if not gone([pid], within_s=0))


def _emulator(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    # A session of its own, as a terminal's job: the test's SIGKILL reaches the emulator only.
    return subprocess.Popen([sys.executable, "-m", "sss_emulator", *args], env=env, cwd=cwd,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)


def test_a_script_dies_with_a_sigkilled_cli_run(loop: tuple[Path, Path],
                                                env: dict[str, str], tmp_path: Path) -> None:
    script, folder = loop
    emulator = _emulator([str(script), "-p0", str(folder)], env, tmp_path)
    with _killed_after(emulator, folder) as pids:
        assert gone(pids, within_s=WAIT_S), f"outlived the killed CLI: {_left(pids)}"


def test_a_script_dies_with_a_cli_run_that_timeout_kills(loop: tuple[Path, Path],
                                                         env: dict[str, str],
                                                         tmp_path: Path) -> None:
    """``timeout -s KILL`` signals the whole process group of the emulator, the emulator's
    own helpers included; the script, in a group of its own, must still end."""
    script, folder = loop
    timeout = subprocess.Popen(["timeout", "-s", "KILL", "600", sys.executable, "-m",
                                "sss_emulator", str(script), "-p0", str(folder)], env=env,
                               cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        pids = _started(folder, timeout)
        os.killpg(timeout.pid, signal.SIGKILL)  # what timeout does when the time is up
        assert gone(pids, within_s=WAIT_S), f"outlived the killed CLI: {_left(pids)}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(timeout.pid, signal.SIGKILL)
        timeout.wait(timeout=WAIT_S)


def test_a_script_dies_with_a_sigkilled_serve(loop: tuple[Path, Path], env: dict[str, str],
                                              roots: dict[str, Path], tmp_path: Path) -> None:
    script, folder = loop
    (tmp_path / "users.yaml").write_text("roles:\n  anonymous: [SCRIPTING:EXECUTE]\n")
    emulator = _emulator(["serve", "--bin-dir", str(script.parent), "--port", "0",
                          "--anonymous", "--quiet", "--users", str(tmp_path / "users.yaml")],
                         env, tmp_path)
    assert emulator.stderr is not None
    match = re.search(r"on (http://\S+:\d+)", emulator.stderr.readline().decode())
    assert match is not None
    request = urllib.request.Request(f"{match.group(1)}/scripting",
                                     data=f"call=loop.sh&-p0={folder}".encode(), method="POST")

    def call() -> None:  # answered (or cut off) only once the server is gone
        with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=WAIT_S):
            pass

    threading.Thread(target=call, daemon=True).start()
    with _killed_after(emulator, folder) as pids:
        assert gone(pids, within_s=WAIT_S), f"outlived the killed server: {_left(pids)}"


def test_a_script_dies_with_a_sigkilled_watch_mode(loop: tuple[Path, Path],
                                                   env: dict[str, str], tmp_path: Path) -> None:
    script, folder = loop
    emulator = _emulator(["watch", str(script), "-p0", str(folder)], env, tmp_path)
    with _killed_after(emulator, folder) as pids:
        assert gone(pids, within_s=WAIT_S), f"outlived the killed watcher: {_left(pids)}"


def test_a_script_dies_with_a_sigkilled_pytest_session(loop: tuple[Path, Path],
                                                       env: dict[str, str],
                                                       tmp_path: Path) -> None:
    script, folder = loop
    tests = tmp_path / "session"
    tests.mkdir()
    (tests / "test_loop.py").write_text(textwrap.dedent(f"""
        import pytest

        @pytest.mark.sss(bin_dirs=[{str(script.parent)!r}], mode="subprocess", timeout=600)
        def test_loop(sss):
            sss.run_server_side_script("loop.sh", {str(folder)!r})
    """))
    session = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly",
                                "-p", "no:cacheprovider", str(tests)], env=env, cwd=tests,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    with _killed_after(session, folder) as pids:
        assert gone(pids, within_s=WAIT_S), f"outlived the killed test session: {_left(pids)}"


def test_a_script_dies_with_a_sigkilled_program_that_ran_it_from_threads(
        loop: tuple[Path, Path], make_script: Any, roots: dict[str, Path],
        env: dict[str, str], tmp_path: Path) -> None:
    """``Emulator.run`` in a program: the first run (which sets up the guardian) in a thread
    that has ended long before the script that loops was started from another thread."""
    script, folder = loop
    make_script("quick.sh", "#!/bin/sh\necho quick\n")
    program = textwrap.dedent(f"""
        import threading
        from sss_emulator import Emulator

        em = Emulator(bin_dirs=[{str(script.parent)!r}], stand_in=False,
                      work_root={str(roots["work_root"])!r},
                      shared_root={str(roots["shared_root"])!r})
        first = threading.Thread(target=em.run_server_side_script, args=("quick.sh",))
        first.start()
        first.join()
        second = threading.Thread(target=em.run_server_side_script,
                                  args=("loop.sh", {str(folder)!r}))
        second.start()
        second.join()
    """)
    emulator = subprocess.Popen([sys.executable, "-c", program], env=env, cwd=tmp_path,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
    with _killed_after(emulator, folder) as pids:
        assert gone(pids, within_s=WAIT_S), f"outlived the killed program: {_left(pids)}"


def test_a_script_waiting_for_a_debugger_dies_with_a_sigkilled_cli(make_script: Any,
                                                                   env: dict[str, str],
                                                                   tmp_path: Path) -> None:
    """``--debug-wait``: the wrapper that waits for an IDE (and the port it listens on) ends
    with the emulator, not when someone finally attaches."""
    pytest.importorskip("debugpy")
    from sss_emulator.core import processes

    script = make_script("wait.py", "#!/usr/bin/env python3\nprint('never')\n")
    emulator = _emulator(["--debug-wait=0", str(script)], env, tmp_path)
    try:
        assert emulator.stderr is not None
        for _ in range(50):
            line = emulator.stderr.readline().decode()
            if "waits for a debugger" in line or not line:
                break
        assert "waits for a debugger" in line, line
        waiting = processes.children(emulator.pid)  # the wrapper (and the guardian)
        assert waiting, "the wrapper that waits for the debugger runs"
        emulator.kill()
        emulator.wait(timeout=WAIT_S)
        assert gone(waiting, within_s=WAIT_S), f"outlived the killed CLI: {waiting}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            emulator.kill()
        emulator.wait(timeout=WAIT_S)


def test_a_forked_child_does_not_keep_its_parents_scripts_alive(
        loop: tuple[Path, Path], make_script: Any, roots: dict[str, Path],
        env: dict[str, str], tmp_path: Path) -> None:
    """A program that forks (multiprocessing's default on Linux) after a run: the child must
    not hold the parent's end of the guardian's pipe, or the parent's death goes unseen."""
    script, folder = loop
    make_script("quick.sh", "#!/bin/sh\necho quick\n")
    program = textwrap.dedent(f"""
        import os, time
        from sss_emulator import Emulator

        em = Emulator(bin_dirs=[{str(script.parent)!r}], stand_in=False,
                      work_root={str(roots["work_root"])!r},
                      shared_root={str(roots["shared_root"])!r})
        em.run_server_side_script("quick.sh")
        if os.fork() == 0:  # lives on after its parent was killed
            time.sleep(300)
            os._exit(0)
        em.run_server_side_script("loop.sh", {str(folder)!r})
    """)
    emulator = subprocess.Popen([sys.executable, "-c", program], env=env, cwd=tmp_path,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
    try:
        with _killed_after(emulator, folder) as pids:
            assert gone(pids, within_s=WAIT_S), f"outlived the killed program: {_left(pids)}"
    finally:
        os.killpg(emulator.pid, signal.SIGKILL)  # the forked child, in the same session


def test_a_script_in_the_servers_mounts_dies_with_a_sigkilled_cli(loop: tuple[Path, Path],
                                                                  env: dict[str, str],
                                                                  tmp_path: Path) -> None:
    """``--mounts``: the script runs below ``bwrap`` (or nsexec) in a mount namespace."""
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (apt-get install bubblewrap; .ci/run does)")
    script, folder = loop
    (tmp_path / "data").mkdir()
    emulator = _emulator([str(script), "--extroot", "data", "--extroot-path",
                          "/linkahead/extroot", "--mounts", "-p0", str(folder)], env, tmp_path)
    with _killed_after(emulator, folder) as pids:
        assert gone(pids, within_s=WAIT_S), f"outlived the killed CLI: {_left(pids)}"
