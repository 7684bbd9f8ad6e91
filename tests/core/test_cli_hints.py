"""A newcomer's mistakes, typed into the real ``sss-emulate``: one line that names the fix."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sss_emulator.errors import EmulatorError, SetupError

SSS_EMULATE = str(Path(sys.executable).with_name("sss-emulate"))
REFUSED = EmulatorError.exit_code


@pytest.fixture
def repo(tmp_path: Path, samples: Path, roots: dict[str, Path]) -> Path:
    """A script repository as a newcomer has it: ``scripts/`` with the samples."""
    shutil.copytree(samples, tmp_path / "scripts", symlinks=True)
    return tmp_path


def emulate(repo: Path, roots: dict[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    env.update(SSS_WORK_ROOT=str(roots["work_root"]), SSS_SHARED_ROOT=str(roots["shared_root"]))
    return subprocess.run([SSS_EMULATE, *args], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=60)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    return lines[-1]


def test_a_mistyped_path_suggests_the_file(repo: Path, roots: dict[str, Path]) -> None:
    result = emulate(repo, roots, "scripts/minmal.bash", "-p0", "x")
    assert result.returncode == REFUSED
    assert one_error_line(result) == ("sss-emulate: error: there is no file scripts/minmal.bash; "
                                      "did you mean scripts/minimal.bash?")


def test_a_mistyped_call_in_a_bin_dir_suggests_the_call(repo: Path,
                                                        roots: dict[str, Path]) -> None:
    result = emulate(repo, roots, "--bin-dir", "scripts", "administration/diagnostic.py")
    assert result.returncode == REFUSED
    line = one_error_line(result)
    assert "no script administration/diagnostic.py" in line
    assert line.endswith("did you mean administration/diagnostics.py?")


def test_a_folder_as_script_says_it_is_a_folder(repo: Path, roots: dict[str, Path]) -> None:
    line = one_error_line(emulate(repo, roots, "scripts"))
    assert "scripts is a folder, not a script" in line and "--bin-dir scripts" in line
    assert "e.g. scripts/" in line
    in_bin_dir = one_error_line(emulate(repo, roots, "--bin-dir", "scripts", "administration"))
    assert "administration is a folder in the bin dir" in in_bin_dir
    assert "e.g. administration/diagnostics.py" in in_bin_dir


@pytest.mark.parametrize(("typed", "command"), [(["serv"], "serve"), (["doctr", "x"], "doctor")])
def test_a_mistyped_command_suggests_the_command(repo: Path, roots: dict[str, Path],
                                                 typed: list[str], command: str) -> None:
    result = emulate(repo, roots, *typed)
    assert result.returncode == REFUSED
    assert one_error_line(result).endswith(f"did you mean the command 'sss-emulate {command}'?")


def test_the_servers_option_spelling_says_how_to_write_it(repo: Path,
                                                          roots: dict[str, Path]) -> None:
    """--option2=x is how the call string shows it; the script option is -Ooption2=x."""
    result = emulate(repo, roots, "scripts/minimal.bash", "--option2=x")
    assert result.returncode != 0
    line = one_error_line(result)
    assert "write -Ooption2=x" in line and "--postpone" not in line
    typo = one_error_line(emulate(repo, roots, "scripts/minimal.bash", "--tmeout", "3"))
    assert "did you mean --timeout?" in typo


def test_a_crlf_script_names_the_crlf(repo: Path, roots: dict[str, Path]) -> None:
    script = repo / "scripts" / "windows.sh"
    script.write_bytes(b"#!/bin/bash\r\necho hi\r\n")
    script.chmod(0o755)
    result = emulate(repo, roots, "scripts/windows.sh")
    assert result.returncode == SetupError.exit_code
    line = one_error_line(result)
    assert "CRLF" in line and "dos2unix" in line and "'/bin/bash\\r'" in line


def test_a_script_without_shebang_says_so(repo: Path, roots: dict[str, Path]) -> None:
    script = repo / "scripts" / "bare.sh"
    script.write_text("echo hi\n")
    script.chmod(0o755)
    result = emulate(repo, roots, "scripts/bare.sh")
    assert result.returncode == SetupError.exit_code
    line = one_error_line(result)
    assert "no '#!' line" in line and "Exec format error" not in line


def test_the_suggested_commands_are_the_programs() -> None:
    """hints keeps its own copy of the command names (no import of the program): the same."""
    from sss_emulator.cli.hints import COMMANDS
    from sss_emulator.cli.program import COMMANDS as PROGRAM_COMMANDS

    assert set(COMMANDS) == set(PROGRAM_COMMANDS) - {"run"}


def test_a_successful_run_loads_no_hint(repo: Path, roots: dict[str, Path]) -> None:
    """The hints (and difflib) are paid for only by a mistake."""
    code = ("import sys, runpy; sys.argv = ['sss-emulate', 'scripts/minimal.bash', '-p0', 'x']\n"
            "import atexit\n"
            "atexit.register(lambda: print(sorted(m for m in sys.modules if 'hints' in m or "
            "m == 'difflib' or m.endswith('shebang')), file=sys.stderr))\n"
            "from sss_emulator.cli.program import main\nmain()\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    env.update(SSS_WORK_ROOT=str(roots["work_root"]), SSS_SHARED_ROOT=str(roots["shared_root"]))
    result = subprocess.run([sys.executable, "-c", code], cwd=repo, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "[]"


def test_a_scripts_own_exit_2_is_told_apart_from_a_refusal(repo: Path,
                                                           roots: dict[str, Path]) -> None:
    """A CI job reads the status alone: the script's argparse refusing its arguments is 2 (the
    script's own, passed on), the emulator refusing the call or the command line is 125."""
    script = repo / "scripts" / "strict.py"
    script.write_text(f"#!{sys.executable}\nimport argparse\np = argparse.ArgumentParser()\n"
                      "p.add_argument('--auth-token')\np.add_argument('file')\np.parse_args()\n")
    script.chmod(0o755)
    own = emulate(repo, roots, "scripts/strict.py")  # the script wants a positional
    assert own.returncode == 2 and "the following arguments are required" in own.stderr
    refused = emulate(repo, roots, "scripts/no-such.py", "-p0", "x")
    bad_line = emulate(repo, roots, "scripts/strict.py", "-p0", "x", "--tmeout", "5")
    gap = emulate(repo, roots, "scripts/strict.py", "-p1", "x")
    assert [refused.returncode, bad_line.returncode, gap.returncode] == [125, 125, 125]


def test_a_script_without_auth_token_gets_a_note_naming_the_fix(repo: Path,
                                                                roots: dict[str, Path]) -> None:
    """The most common deployment mistake: the script's own message names the token, not
    the fix; the run's status stays the script's."""
    script = repo / "scripts" / "noauth.py"
    script.write_text(f"#!{sys.executable}\nimport argparse\np = argparse.ArgumentParser()\n"
                      "p.add_argument('file')\np.parse_args()\n")
    script.chmod(0o755)
    result = emulate(repo, roots, "scripts/noauth.py", "-p0", "x")
    assert result.returncode == 2
    assert ("sss-emulate: note: the script refused --auth-token=…, which the server always "
            "passes first; add it to its argument parser") in result.stderr
