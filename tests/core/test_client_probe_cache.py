"""The client probe's answer is kept on disk for the next ``sss-emulate``, and asked again as soon
as anything it was read from changes (see :mod:`sss_emulator.connect.clients`)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from sss_emulator.connect import clients

PYTHON = sys.executable


@pytest.fixture
def probes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """A private base of this test's own; records every probe started (a fresh process, as a
    new ``sss-emulate`` is: nothing remembered in memory)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setattr(clients, "_CACHE", {})
    started: list[list[str]] = []
    real_popen = clients._REAL_POPEN[0]

    def popen(argv: list[str], **kwargs: object) -> object:
        started.append(argv)
        return real_popen(argv, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(clients, "_REAL_POPEN", (popen,))
    return started


def _env(tmp_path: Path, extra: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": os.environ["PATH"], "PYTHONPATH": str(extra), "HOME": str(home)}


def _detect(env: dict[str, str]) -> clients.ClientInfo | None:
    clients._CACHE.clear()  # the next process
    return clients.detect_client(PYTHON, env)


def _install(folder: Path, name: str, version: str) -> Path:
    dist = folder / f"{name}-{version}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return dist


def test_answer_is_kept_until_a_client_is_installed_or_changed(
        tmp_path: Path, probes: list[list[str]]) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    env = _env(tmp_path, extra)
    first = _detect(env)
    assert len(probes) == 1
    assert _detect(env) == first and len(probes) == 1  # read from disk, not asked

    (extra / "unrelated.txt").write_text("x")  # a folder that changes for other reasons
    assert _detect(env) == first and len(probes) == 1

    dist = _install(extra, "LinkAhead", "9.9.0")  # found before the venv's own
    assert _detect(env) == clients.ClientInfo("9.9.0", first.caosdb if first else None)
    assert len(probes) == 2
    assert _detect(env) is not None and len(probes) == 2

    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: linkahead\nVersion: 9.9.10\n")
    assert _detect(env) == clients.ClientInfo("9.9.10", first.caosdb if first else None)
    assert len(probes) == 3


def test_a_new_pth_file_or_another_pythonpath_asks_again(
        tmp_path: Path, probes: list[list[str]]) -> None:
    extra, other = tmp_path / "extra", tmp_path / "other"
    extra.mkdir()
    other.mkdir()
    _install(other, "caosdb", "0.11.2")
    env = _env(tmp_path, extra)
    _detect(env)
    site_dir = next(p for p in clients._read_disk().popitem()[1]["watched"]
                    if p[0] == "folder" and p[1].endswith("site-packages")
                    and not p[1].startswith("~"))[1]
    assert len(probes) == 1
    assert _detect({**env, "PYTHONPATH": str(other)}).caosdb == "0.11.2"  # type: ignore[union-attr]
    assert len(probes) == 2
    pth = Path(site_dir) / "zz-sss-test-probe-cache.pth"
    try:
        pth.write_text(str(other) + "\n")
        assert _detect(env).caosdb == "0.11.2"  # type: ignore[union-attr]
        assert len(probes) == 3
    finally:
        pth.unlink()


def test_a_user_site_in_the_runs_home_is_checked_in_each_runs_home(
        tmp_path: Path, probes: list[list[str]]) -> None:
    """Every run has a HOME of its own: the answer holds for another HOME as long as its user
    site looks the same, and is asked again when it holds a client."""
    extra = tmp_path / "extra"
    extra.mkdir()
    env = _env(tmp_path, extra)
    _detect(env)
    watched = clients._read_disk().popitem()[1]["watched"]
    assert not any(name.startswith(str(tmp_path / "home")) for _kind, name in watched)
    other_home = tmp_path / "home2"
    other_home.mkdir()
    _detect({**env, "HOME": str(other_home)})
    assert len(probes) == 1
    in_home = [name for _kind, name in watched if name.startswith("~/")]
    if not in_home:
        pytest.skip("this interpreter has no user site")
    _install(other_home / in_home[0][2:], "linkahead", "9.9.0")
    _detect({**env, "HOME": str(other_home)})
    assert len(probes) == 2


def test_a_wrapper_that_picks_the_interpreter_is_asked_every_time(
        tmp_path: Path, probes: list[list[str]]) -> None:
    """A pyenv shim may run another Python next time: its answer is not kept on disk."""
    wrapper = tmp_path / "bin" / "python3"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec "{PYTHON}" "$@"\n')
    wrapper.chmod(0o755)
    env = _env(tmp_path, tmp_path)
    first = clients.detect_client(str(wrapper), env)
    assert clients.detect_client(str(wrapper), env) == first and len(probes) == 1  # memory
    clients._CACHE.clear()
    assert clients.detect_client(str(wrapper), env) == first and len(probes) == 2


def test_a_broken_or_foreign_cache_file_is_asked_again(
        tmp_path: Path, probes: list[list[str]]) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    env = _env(tmp_path, extra)
    first = _detect(env)
    cache = clients._cache_file()
    for text in ("{not json", "[]", '{"x": 1}', cache.read_text().replace('"folder"', '"file"')):
        cache.write_text(text)
        assert _detect(env) == first
    assert len(probes) == 5


def test_a_tests_fp_does_not_fake_the_probe(tmp_path: Path, fp: Any) -> None:
    """pytest-subprocess's ``fp`` fakes what scripts start, not the emulator's own probe."""
    info, sources = clients._probe(PYTHON, _env(tmp_path, tmp_path))
    assert info is not None and sources is not None
    assert fp.call_count([PYTHON, "-c", clients._PROBE]) == 0


def test_an_interpreter_link_pointed_elsewhere_is_asked_again(
        tmp_path: Path, probes: list[list[str]]) -> None:
    """``python3 -> python3.11`` retargeted (update-alternatives): the kept answer was the old
    interpreter's, so the name alone must not find it."""
    links = tmp_path / "links"
    links.mkdir()
    first, second = tmp_path / "py-a", tmp_path / "py-b"
    first.symlink_to(PYTHON)
    second.write_text(f'#!/bin/sh\nexec "{PYTHON}" "$@"\n')  # another file: another Python
    second.chmod(0o755)
    (links / "python3").symlink_to(first)
    env = _env(tmp_path, tmp_path)
    clients._CACHE.clear()
    clients.detect_client(str(links / "python3"), env)
    clients._CACHE.clear()
    clients.detect_client(str(links / "python3"), env)
    assert len(probes) == 1  # kept
    (links / "python3").unlink()
    (links / "python3").symlink_to(second)
    clients._CACHE.clear()
    clients.detect_client(str(links / "python3"), env)
    assert len(probes) == 2  # the link leads elsewhere now: asked again
