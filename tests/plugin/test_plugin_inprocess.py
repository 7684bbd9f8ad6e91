"""The in-process runner on its own: what it sets up, captures, and restores."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_sss_emulator import PytestEmulator, is_python_script, run_inprocess

from sss_emulator.errors import SetupError

Script = Callable[[str], Path]


@pytest.fixture
def script(tmp_path: Path) -> Script:
    def write(body: str, name: str = "s.py") -> Path:
        path = tmp_path / "bin" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(body if body.startswith("#!") else f"#!/usr/bin/env python3\n{body}")
        path.chmod(0o755)
        return path
    return write


def _run(path: Path, tmp_path: Path, *args: str, timeout: float | None = 10, **env: str):
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    full_env = {"HOME": str(cwd), "SHARED_DIR": str(tmp_path), **env}
    return run_inprocess([str(path), *args], cwd=cwd, env=full_env, timeout=timeout)


def test_argv_cwd_env_are_set_and_restored(script: Script, tmp_path: Path) -> None:
    path = script(
        "import os, sys\n"
        "print(sys.argv)\nprint(os.getcwd())\nprint(os.environ['HOME'], os.environ['ONLY'])\n"
        "print('PATH' in os.environ)\nprint(os.path.expanduser('~'))\n"
        "print(sys.path[0])\n"
    )
    before = (list(sys.argv), os.getcwd(), dict(os.environ), list(sys.path), sys.stdout)
    result = _run(path, tmp_path, "--auth-token=t", "a b", ONLY="1")
    assert result.returncode == 0 and not result.timed_out
    cwd = tmp_path / "cwd"
    assert result.stdout.decode().splitlines() == [
        str([str(path), "--auth-token=t", "a b"]), str(cwd), f"{cwd} 1", "False", str(cwd),
        str(path.parent.resolve()),
    ]
    assert (list(sys.argv), os.getcwd(), dict(os.environ), list(sys.path), sys.stdout) == before


@pytest.mark.parametrize(
    ("ending", "code", "stderr"),
    [
        ("", 0, ""),
        ("sys.exit()", 0, ""),
        ("sys.exit(3)", 3, ""),
        ("sys.exit(256 + 4)", 4, ""),
        ("sys.exit('bad input')", 1, "bad input\n"),
        ("raise ValueError('boom')", 1, "ValueError: boom\n"),
    ],
)
def test_exit_codes_as_python_gives_them(script: Script, tmp_path: Path, ending: str,
                                         code: int, stderr: str) -> None:
    result = _run(script(f"import sys\nprint('out')\n{ending}\n"), tmp_path)
    assert result.returncode == code
    assert result.stdout == b"out\n"
    assert result.stderr.decode().endswith(stderr)
    if "raise" in ending:
        assert result.stderr.startswith(b"Traceback (most recent call last):")


def test_bytes_and_closed_streams_are_captured(script: Script, tmp_path: Path) -> None:
    result = _run(script("import sys\nsys.stdout.buffer.write(b'\\xff raw')\n"
                         "sys.stderr.write('\u00e4')\nsys.stdout.close()\n"), tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, b"\xff raw", "ä".encode())


def test_timeout_interrupts_a_hanging_script(script: Script, tmp_path: Path) -> None:
    result = _run(script("import time\nprint('started', flush=True)\ntime.sleep(30)\n"),
                  tmp_path, timeout=0.3)
    assert result.timed_out and result.returncode is None
    assert result.stdout == b"started\n"


def test_logging_handlers_added_by_the_script_are_removed(script: Script,
                                                          tmp_path: Path) -> None:
    before = list(logging.getLogger("my_script").handlers), list(logging.getLogger().handlers)
    path = script("import logging, sys\n"
                  "lg = logging.getLogger('my_script')\n"
                  "lg.addHandler(logging.StreamHandler(sys.stdout))\nlg.setLevel(logging.INFO)\n"
                  "lg.info('logged')\n")
    assert _run(path, tmp_path).stdout == b"logged\n"
    assert (list(logging.getLogger("my_script").handlers),
            list(logging.getLogger().handlers)) == before


def test_deprecation_warnings_behave_as_in_a_fresh_python(script: Script,
                                                          tmp_path: Path) -> None:
    script("import warnings\ndef old():\n    warnings.warn('lib', DeprecationWarning)\n",
           name="helper_mod.py")
    path = script("import warnings, helper_mod\nhelper_mod.old()\n"
                  "warnings.warn('main', DeprecationWarning)\n")
    stderr = _run(path, tmp_path).stderr.decode()
    assert "DeprecationWarning: main" in stderr and "lib" not in stderr


def test_modules_beside_the_script_are_imported_fresh(script: Script, tmp_path: Path) -> None:
    helper = script("VALUE = 1\n", name="helper_fresh.py")
    path = script("import helper_fresh\nprint(helper_fresh.VALUE)\n")
    assert _run(path, tmp_path).stdout == b"1\n"
    assert "helper_fresh" not in sys.modules
    helper.write_text("VALUE = 2\n")
    assert _run(path, tmp_path).stdout == b"2\n"


def test_keyboard_interrupt_is_passed_on_after_restoring(script: Script,
                                                         tmp_path: Path) -> None:
    cwd, stdout = os.getcwd(), sys.stdout
    with pytest.raises(KeyboardInterrupt):
        _run(script("raise KeyboardInterrupt\n"), tmp_path)
    assert os.getcwd() == cwd and sys.stdout is stdout


def test_non_python_scripts_are_refused_with_the_way_out(script: Script,
                                                         tmp_path: Path) -> None:
    path = script("#!/bin/bash\necho hi\n", name="x.sh")
    assert not is_python_script(path)
    assert is_python_script(script("#!/usr/bin/env python3\n", name="noext"))
    no_shebang = script("#!", name="bare.py")
    no_shebang.write_text("print('hi')\n")
    with pytest.raises(SetupError, match=r"bare.py: it has no shebang line"):
        _run(no_shebang, tmp_path)
    with pytest.raises(SetupError, match=r"x.sh is not a Python script.*mode='subprocess'"):
        _run(path, tmp_path)


def test_emulator_outcome_is_the_same_shape_in_both_modes(script: Script,
                                                          tmp_path: Path) -> None:
    path = script("import os\nprint('hi')\n"
                  "open(os.path.join(os.environ['SHARED_DIR'], 'f.txt'), 'w').write('x')\n")
    outcomes = {}
    for mode in ("subprocess", "inprocess"):
        em = PytestEmulator([path.parent], mode=mode, timeout=30,
                            work_root=tmp_path / mode / "w", shared_root=tmp_path / mode / "s")
        outcomes[mode] = em.run_server_side_script("s.py", "p0", o="v")
    sub, inp = outcomes["subprocess"], outcomes["inprocess"]
    assert (sub.code, sub.call, sub.stdout, sub.argv[1:]) == (inp.code, inp.call, inp.stdout,
                                                              inp.argv[1:])
    assert inp.shared_files["f.txt"].read_text() == "x"
    assert not inp.workdir.exists()


def test_timeout_outside_the_main_thread(script: Script, tmp_path: Path) -> None:
    import threading

    path = script("import time\nwhile True:\n    time.sleep(0.01)\n")
    results = []
    worker = threading.Thread(target=lambda: results.append(_run(path, tmp_path, timeout=0.3)))
    worker.start()
    worker.join(10)
    assert not worker.is_alive()
    assert results[0].timed_out and results[0].returncode is None
