"""Files from elsewhere (a recording, a cloned repository) that are built to break a parser.

``[[[[…]]]]`` nested 100000 deep makes every recursive parser (json, PyYAML, tomllib) raise
RecursionError, and bytes that are not UTF-8 raise UnicodeDecodeError: neither is an OSError or
a syntax error, so each reached the user as "internal error … report it" (or a traceback at
pytest's collection). Each is one line naming the file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DEEP = "[" * 100_000 + "]" * 100_000


def _sss(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sss_emulator", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("name", "content", "said"), [
    ("sss_deep.yaml", f"call: {DEEP}\n".encode(), "nested too deeply"),
    ("sss_deep.toml", f"call = {DEEP}\n".encode(), "nested too deeply"),
    ("sss_latin1.yaml", b"call: \"caf\xe9.py\"\n", "not UTF-8 text"),
], ids=["yaml", "toml", "latin1"])
def test_replay_of_a_hostile_call_file_is_one_line(tmp_path: Path, env: dict[str, str],
                                                   name: str, content: bytes, said: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = _sss("replay", str(path), cwd=tmp_path, env=env)
    lines = result.stderr.splitlines()
    assert result.returncode == 125 and len(lines) == 1, result
    assert str(path) in lines[0] and said in lines[0] and "internal error" not in lines[0]


def test_the_plugin_reports_a_hostile_call_file_as_one_collection_error(
        tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "sss_deep.yaml").write_text(f"call: {DEEP}\n")
    (tmp_path / "sss_latin1.yaml").write_bytes(b"call: \"caf\xe9.py\"\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:randomly", "-p",
                             "no:cacheprovider", "--continue-on-collection-errors", "-q"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert "sss_deep.yaml: nested too deeply to be a call file" in result.stdout, result.stdout
    assert "sss_latin1.yaml: not UTF-8 text" in result.stdout, result.stdout
    assert "RecursionError" not in result.stdout and "UnicodeDecodeError" not in result.stdout


@pytest.mark.parametrize(("option", "name", "content", "said"), [
    ("--users", "users.yaml", f"users: {DEEP}\n".encode(), "nested too deeply"),
    ("--users", "users.yaml", b"users: {caf\xe9: {password: x}}\n", "not UTF-8 text"),
    ("--data", "data.json", DEEP.encode(), "nested too deeply"),
    ("--data", "data.yaml", f"- {DEEP}\n".encode(), "nested too deeply"),
], ids=["users-deep", "users-latin1", "data-json", "data-yaml"])
def test_a_hostile_users_or_data_file_is_one_line(tmp_path: Path, env: dict[str, str],
                                                  samples: Path, option: str, name: str,
                                                  content: bytes, said: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = _sss(option, str(path), "--bin-dir", str(samples), "minimal.bash", cwd=tmp_path,
                  env=env)
    lines = result.stderr.splitlines()
    assert result.returncode != 0 and len(lines) == 1, result
    assert str(path) in lines[0] and said in lines[0] and "internal error" not in lines[0]
