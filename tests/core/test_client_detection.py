"""Which LinkAhead client a script's Python has is read from the file system, never asked by
starting that Python; the answer is the one the interpreter itself gives
(sss_emulator.connect.clients, sss_emulator.connect.pyenv)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from client_helpers import VERSION, install, make_pyenv, make_venv

from sss_emulator.connect import clients

REPO = Path(__file__).resolve().parents[2]
#: The real pyenv of this machine, if it has one (pyenv's own answer to compare with).
PYENV = next((p for p in [os.path.join(os.environ.get("PYENV_ROOT", os.path.expanduser(
    "~/.pyenv")), "libexec", "pyenv")] if os.access(p, os.X_OK)), None)


@pytest.fixture
def never_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing remembered from other tests, and starting an interpreter fails the test."""
    monkeypatch.setattr(clients, "_CACHE", {})

    def refuse(argv: list[str], **_: object) -> None:
        raise AssertionError(f"started {argv[0]} to ask for its client")

    monkeypatch.setattr(clients, "_REAL_POPEN", (refuse,))


_ASK = ("import importlib.metadata as m\n"
        "for name in ('linkahead', 'caosdb'):\n"
        "    try:\n"
        "        print(m.version(name))\n"
        "    except m.PackageNotFoundError:\n"
        "        print('-')\n")


def _own_answer(python: str, env: dict[str, str], cwd: Path) -> clients.ClientInfo | None:
    """What ``importlib.metadata`` in that interpreter says, started as a script would be."""
    done = subprocess.run([python, "-c", _ASK], env=env, cwd=cwd, capture_output=True,
                          text=True, check=True, timeout=60)
    linkahead, caosdb = (None if v == "-" else v for v in done.stdout.split())
    return clients.ClientInfo(linkahead, caosdb)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": os.environ["PATH"], "HOME": str(home), **extra}


def _venv_cases(tmp_path: Path) -> list[tuple[str, dict[str, str]]]:
    env = _env(tmp_path)
    user_site = tmp_path / "home" / ".local" / "lib" / f"python{VERSION}" / "site-packages"
    install(user_site, "linkahead", "0.21.0")
    extra = tmp_path / "extra"
    install(extra, "caosdb", "0.11.2")
    return [
        (str(make_venv(tmp_path / "new", linkahead="0.21.0")), env),
        (str(make_venv(tmp_path / "old", linkahead="0.20.0", caosdb="0.99.99")), env),
        (str(make_venv(tmp_path / "caosdb", caosdb="0.11.2")), env),
        (str(make_venv(tmp_path / "none")), env),
        # the user site below the run's HOME counts only where the venv sees the system's
        (str(make_venv(tmp_path / "isolated")), env),
        (str(make_venv(tmp_path / "system", system_site=True, linkahead="0.13.0")), env),
        (str(make_venv(tmp_path / "pythonpath", linkahead="0.20.0")),
         {**env, "PYTHONPATH": str(extra)}),
        (str(make_venv(tmp_path / "nousersite", system_site=True)),
         {**env, "PYTHONNOUSERSITE": "1"}),
        (sys.executable, env),
        *[(p, env) for p in ["/usr/bin/python3"] if os.access(p, os.X_OK)],
    ]


def test_the_client_is_read_as_the_interpreter_finds_it(tmp_path: Path,
                                                        never_asked: None) -> None:
    for python, env in _venv_cases(tmp_path):
        read = clients.detect_client(python, env, str(tmp_path))
        assert read == _own_answer(python, env, tmp_path), python


def _pyenv_cases(tmp_path: Path, pyenv: str) -> list[tuple[Path, dict[str, str], Path, str]]:
    """(shims, env, cwd, expected linkahead version) for each way pyenv picks a version."""
    root = tmp_path / "pyenv"
    shims = make_pyenv(root, {"3.98.1": {"linkahead": "0.21.0"},
                              "3.98.2": {"linkahead": "0.20.0"},
                              "3.98.3rc1": {"linkahead": "9.9.9"}}, pyenv, "3.98.2")
    env = {**_env(tmp_path), "PATH": f"{shims}:{os.environ['PATH']}"}
    project = tmp_path / "project" / "sub"
    project.mkdir(parents=True)
    (project.parent / ".python-version").write_text("# comment\npython-3.98.1\n")
    plain = tmp_path / "plain"
    plain.mkdir()
    return [
        (shims, env, plain, "0.20.0"),  # the global version file
        (shims, {**env, "PYENV_VERSION": "3.98.1"}, plain, "0.21.0"),
        (shims, env, project, "0.21.0"),  # .python-version in a folder above
        (shims, {**env, "PYENV_DIR": str(project)}, plain, "0.21.0"),
        (shims, {**env, "PYENV_VERSION": "3.98"}, plain, "0.20.0"),  # newest stable release
        (shims, {**env, "PYENV_VERSION": "3.97.0:3.98.1"}, plain, "0.21.0"),  # not installed
    ]


@pytest.mark.skipif(PYENV is None, reason="pyenv is not installed here")
def test_a_pyenv_shim_is_resolved_as_pyenv_resolves_it(tmp_path: Path,
                                                       never_asked: None) -> None:
    assert PYENV is not None
    for shims, env, cwd, expected in _pyenv_cases(tmp_path, PYENV):
        shim = str(shims / "python3")
        read = clients.detect_client(shim, env, str(cwd))
        assert read == _own_answer(shim, env, cwd), (env, cwd)  # pyenv's own answer
        assert read is not None and read.linkahead == expected


def test_a_shim_falls_back_to_the_system_python(tmp_path: Path, never_asked: None) -> None:
    shims = make_pyenv(tmp_path / "pyenv", {}, "/nonexistent/pyenv", "system")
    system = make_venv(tmp_path / "system", linkahead="0.21.0").parent
    env = {**_env(tmp_path), "PATH": f"{shims}:{system}"}
    read = clients.detect_client(str(shims / "python3"), env, str(tmp_path))
    assert read == clients.ClientInfo("0.21.0", None)
    no_python = {**env, "PATH": str(shims)}
    assert clients.detect_client(str(shims / "python3"), no_python, str(tmp_path)) is None


def test_a_wrapper_that_is_no_shim_is_asked_once(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clients, "_CACHE", {})
    real = make_venv(tmp_path / "venv", linkahead="0.20.0")
    wrapper = tmp_path / "bin" / "python3"
    wrapper.parent.mkdir()
    wrapper.write_text(f"#!/bin/sh\nexec {real} \"$@\"\n")
    wrapper.chmod(0o755)
    started: list[list[str]] = []
    popen = clients._REAL_POPEN[0]

    def counted(argv: list[str], **kwargs: object) -> object:
        started.append(argv)
        return popen(argv, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(clients, "_REAL_POPEN", (counted,))
    env = _env(tmp_path)
    for _ in range(2):
        read = clients.detect_client(str(wrapper), env, str(tmp_path))
        assert read == clients.ClientInfo("0.20.0", None)
    assert len(started) == 1


def test_a_cli_run_through_a_pyenv_shim_starts_no_second_interpreter(tmp_path: Path) -> None:
    """The shim hands over to a pyenv that notes every start: a bash script's run has none,
    and its ini has [Email] as the shim's linkahead 0.21 accepts it."""
    log = tmp_path / "pyenv-starts"
    pyenv = tmp_path / "fake-pyenv"
    root = tmp_path / "pyenv"
    pyenv.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\nprogram=$2\nshift 2\n"
                     f"exec {root}/versions/3.98.1/bin/\"$program\" \"$@\"\n")
    pyenv.chmod(0o755)
    shims = make_pyenv(root, {"3.98.1": {"linkahead": "0.21.0"}}, str(pyenv), "3.98.1")
    script = tmp_path / "bin" / "ini.bash"
    script.parent.mkdir()
    script.write_text("#!/bin/bash\ncat \"$HOME/.pylinkahead.ini\"\n")
    script.chmod(0o755)
    env = {**os.environ, "PATH": f"{shims}:{os.environ['PATH']}",
           "SSS_WORK_ROOT": str(tmp_path / "w"), "SSS_SHARED_ROOT": str(tmp_path / "s")}
    done = subprocess.run([sys.executable, "-m", "sss_emulator", str(script)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "[Email]" in done.stdout
    assert not log.exists(), log.read_text()
    assert shutil.which("python3", path=env["PATH"]) == str(shims / "python3")


def test_a_kept_shim_answer_follows_the_version_files(tmp_path: Path, never_asked: None) -> None:
    """Runs in one work root reuse the resolution, until the deciding file changes or a run's
    own directory names a version."""
    root = tmp_path / "pyenv"
    shims = make_pyenv(root, {"3.98.1": {"linkahead": "0.21.0"},
                              "3.98.2": {"linkahead": "0.20.0"}}, "/nonexistent/pyenv", "3.98.2")
    env = {**_env(tmp_path), "PATH": f"{shims}:{os.environ['PATH']}"}
    runs = [tmp_path / "work" / f"run{n}" for n in range(3)]
    for run in runs:
        run.mkdir(parents=True)

    def linkahead(run: Path) -> str | None:
        read = clients.detect_client(str(shims / "python3"), env, str(run))
        return read.linkahead if read else None

    assert linkahead(runs[0]) == "0.20.0"
    (root / "version").write_text("python-3.98.1\n")  # pyenv global python-3.98.1
    assert linkahead(runs[1]) == "0.21.0"
    (runs[2] / ".python-version").write_text("3.98.2\n")  # the home skeleton has one
    assert linkahead(runs[2]) == "0.20.0"
