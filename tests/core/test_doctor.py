"""doctor never lies: every way a script fails to deploy is a fail with evidence, no traceback."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sss_emulator.cli import main


@pytest.fixture
def doctor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("SSS_")]:
        monkeypatch.delenv(name)

    def run(*args: str) -> tuple[int, dict]:
        result = CliRunner().invoke(main, ["doctor", "--format", "json", *args],
                                    catch_exceptions=False)
        document = json.loads(result.stdout)
        return result.exit_code, document

    return run


def _by_id(document: dict) -> dict[str, dict]:
    return {check["id"]: check for check in document["checks"]}


CASES = {
    "no shebang": ("echo hi\n", 0o755, "shebang", "Exec format error"),
    "missing interpreter": ("#!/usr/bin/env no-such-python-xyz\nprint(1)\n", 0o755, "shebang",
                            "no-such-python-xyz"),
    "interpreter is a folder": ("#!/tmp\necho hi\n", 0o755, "shebang", "'/tmp'"),
    "exit 127": ("#!/bin/sh\nno-such-command-xyz\n", 0o755, "auth_token", "exit 127"),
    "ModuleNotFoundError": ("#!/usr/bin/env python3\nimport no_such_module_xyz\n", 0o755,
                            "auth_token", "ModuleNotFoundError"),
    "argparse exit 2": ("#!/usr/bin/env python3\nimport argparse\n"
                        "argparse.ArgumentParser().parse_args()\n", 0o755, "auth_token",
                        "unrecognized arguments"),
    "not executable": ("#!/bin/sh\necho hi\n", 0o644, "executable", "chmod +x"),
    "CRLF": ("#!/bin/sh\r\necho hi\r\n", 0o755, "shebang", "CRLF"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_broken_script_fails_under_the_right_check(doctor, make_script, case: str) -> None:
    """The failing check is the one that names the cause, with its evidence; exit 1."""
    body, mode, failing, words = CASES[case]
    code, document = doctor(str(make_script("s.py", body, mode)))
    checks = _by_id(document)
    assert code == 1
    assert document["status"] == "fail"
    assert checks[failing]["status"] == "fail"
    assert words in checks[failing]["detail"] + (checks[failing]["evidence"] or "")
    assert checks["auth_token"]["status"] != "ok"  # never "accepts" for a broken script
    others = [c["id"] for c in document["checks"] if c["status"] == "fail"]
    assert set(others) <= {failing, "auth_token"}


def test_a_good_script_passes_with_evidence(doctor, make_script) -> None:
    script = make_script("good.py", "#!/usr/bin/env python3\nimport argparse\n"
                         "p = argparse.ArgumentParser()\np.add_argument('--auth-token')\n"
                         "p.parse_args()\n")
    code, document = doctor(str(script))
    assert code == 0 and document["status"] == "ok"
    checks = _by_id(document)
    assert checks["auth_token"]["evidence"] == "exit 0"
    assert checks["shebang"]["evidence"] == "first line: '#!/usr/bin/env python3'"


def test_needing_more_arguments_cannot_tell_and_says_how_to_find_out(doctor,
                                                                     make_script) -> None:
    """argparse names a missing positional before an unknown option: the trial cannot show
    whether --auth-token= is read, so doctor says so (and how to find out), never ok."""
    script = make_script("more.py", "#!/usr/bin/env python3\nimport argparse\n"
                         "p = argparse.ArgumentParser()\np.add_argument('--auth-token')\n"
                         "p.add_argument('file')\np.parse_args()\n")
    code, document = doctor(str(script))
    check = _by_id(document)["auth_token"]
    assert code == 0 and check["status"] == "warn"
    assert check["detail"].startswith("cannot tell")
    assert f"sss-emulate doctor {script} -p0 VALUE" in check["detail"]
    assert "required" in check["evidence"]


def test_json_document_has_stable_keys(doctor, make_script) -> None:
    code, document = doctor("--no-run", str(make_script("x.sh", "#!/bin/sh\necho\n")))
    assert set(document) == {"schema", "script", "status", "checks"}
    assert document["schema"] == "sss-emulator/doctor/v1"
    assert [c["id"] for c in document["checks"]] == ["found", "executable", "shebang",
                                                     "auth_token", "permission"]
    for check in document["checks"]:
        assert set(check) == {"id", "title", "status", "detail", "evidence"}
        assert check["status"] in ("ok", "warn", "fail")
    assert code == 0 and document["status"] == "warn"  # --no-run: not checked is a warning


def test_unknown_script_and_bad_settings_are_one_document(doctor, tmp_path: Path) -> None:
    code, document = doctor("missing.py")
    assert code == 1 and _by_id(document)["found"]["status"] == "fail"
    code, document = doctor("--bin-dir", str(tmp_path / "nope"), "x.py")
    # a bad setting is a bad command line: exit 125, as everywhere, still with one document
    assert code == 125 and document["checks"][0]["id"] == "settings"


def test_text_output_marks_and_evidence(make_script, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    script = make_script("noshebang.py", "print('hi')\n")
    result = CliRunner().invoke(main, ["doctor", str(script)], catch_exceptions=False)
    assert result.exit_code == 1
    assert "[FAIL] shebang:" in result.stdout
    assert "seen: first line: \"print('hi')\"" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


PY = f"#!{sys.executable}\n"
ARGPARSE = PY + "import argparse\np = argparse.ArgumentParser()\n"
CLICK = (PY + "import click\n@click.command()\n{option}@click.argument('file')\n"
         "def main(file, **kw):\n    print('ran', file)\nmain()\n")
BASH_ACCEPT = ("#!/bin/bash\nfor arg; do case \"$arg\" in\n  --auth-token=*) ;;\n"
               "  --*) echo \"unknown argument: $arg\" >&2; exit 2;;\n  *) file=$arg;;\n"
               "esac; done\n[ -n \"$file\" ] || { echo 'usage: s.sh FILE' >&2; exit 2; }\n"
               "echo ran\n")
BASH_REJECT = ("#!/bin/bash\nfor arg; do case \"$arg\" in\n  --verbose) ;;\n"
               "  --*) echo \"unknown argument: $arg\" >&2; exit 2;;\nesac; done\necho ran\n")
AUTH_SCRIPTS = {
    # argparse with one required positional: accepts, rejects, hides --auth-token
    "argparse accepts": ARGPARSE + "p.add_argument('--auth-token')\np.add_argument('file')\n"
                                   "p.parse_args()\n",
    "argparse rejects": ARGPARSE + "p.add_argument('file')\np.parse_args()\n",
    "argparse hides": ARGPARSE + "p.add_argument('--auth-token', help=argparse.SUPPRESS)\n"
                                 "p.add_argument('file')\np.parse_args()\n",
    "click accepts": CLICK.format(option="@click.option('--auth-token')\n"),
    "click rejects": CLICK.format(option=""),
    "click hides": CLICK.format(option="@click.option('--auth-token', hidden=True)\n"),
    "bash case accepts": BASH_ACCEPT,
    "bash case rejects": BASH_REJECT,
    # work before parsing: a connection that fails, or work that succeeds
    "connects first": PY + "import socket, argparse\n"
                           "socket.create_connection(('127.0.0.1', 9), timeout=5)\n"
                           "p = argparse.ArgumentParser()\np.add_argument('--auth-token')\n"
                           "p.parse_args()\n",
    "works first, rejects": PY + "import argparse, pathlib\n"
                                 "pathlib.Path('work.txt').write_text('done')\n"
                                 "argparse.ArgumentParser().parse_args()\n",
    "works first, accepts": PY + "import argparse, pathlib\n"
                                 "pathlib.Path('work.txt').write_text('done')\n"
                                 "p = argparse.ArgumentParser()\np.add_argument('--auth-token')\n"
                                 "p.parse_args()\n",
    # refusals whose words differ between two runs (a time) or that print the token in
    # another form (JSON): named and exited alike is a refusal all the same
    "bash rejects with a time": "#!/bin/bash\nfor a in \"$@\"; do case \"$a\" in --name=*) ;; "
                                "*) echo \"[$(date +%T.%N)] bad argument: $a\" >&2; exit 3;; "
                                "esac; done\n",
    "rejects as JSON": PY + "import json, sys\nfor a in sys.argv[1:]:\n"
                       "    print(json.dumps({'unknown argument': a}), file=sys.stderr)\n"
                       "    sys.exit(2)\n",
}
#: (script, its arguments) -> the auth_token check's status: ok only for what was seen working.
AUTH_EXPECTED = [
    ("argparse accepts", (), "warn"), ("argparse accepts", ("-p0", "x"), "ok"),
    ("argparse rejects", (), "warn"), ("argparse rejects", ("-p0", "x"), "fail"),
    ("argparse hides", (), "warn"), ("argparse hides", ("-p0", "x"), "ok"),
    ("click accepts", (), "ok"), ("click accepts", ("-p0", "x"), "ok"),
    ("click rejects", (), "fail"), ("click rejects", ("-p0", "x"), "fail"),
    ("click hides", (), "ok"), ("click hides", ("-p0", "x"), "ok"),
    ("bash case accepts", (), "ok"), ("bash case accepts", ("-p0", "x"), "ok"),
    ("bash case rejects", (), "fail"),
    ("connects first", (), "warn"),
    ("works first, rejects", (), "fail"), ("works first, accepts", (), "ok"),
    ("bash rejects with a time", (), "fail"), ("rejects as JSON", (), "fail"),
]


@pytest.mark.parametrize(("name", "arguments", "status"), AUTH_EXPECTED,
                         ids=[f"{n} {' '.join(a)}".strip() for n, a, _ in AUTH_EXPECTED])
def test_auth_token_check_says_ok_only_for_what_it_saw_work(
        doctor, make_script, name: str, arguments: tuple[str, ...], status: str) -> None:
    """Scripts that accept, reject and hide --auth-token, with and without the arguments
    they need: ok only when a run showed the option read, fail when it was refused, and
    otherwise "cannot tell" with the way to find out."""
    script = make_script("s.py", AUTH_SCRIPTS[name])
    code, document = doctor(str(script), *arguments)
    check = _by_id(document)["auth_token"]
    assert check["status"] == status, check
    assert code == (1 if status == "fail" else 0)
    if status == "warn":
        assert check["detail"].startswith("cannot tell") and "to find out" in check["detail"]


def test_the_exact_deployment_mistake_is_caught_with_the_arguments(doctor, make_script,
                                                                   tmp_path: Path) -> None:
    """The issue's noauth.py: doctor without arguments cannot tell (it said ok before), and
    with the arguments the real run takes it fails exactly where `sss-emulate` fails."""
    script = make_script("noauth.py", AUTH_SCRIPTS["argparse rejects"])
    _, without = doctor(str(script))
    assert _by_id(without)["auth_token"]["status"] != "ok"
    code, document = doctor(str(script), "-p0", "x")
    check = _by_id(document)["auth_token"]
    assert code == 1 and "unrecognized arguments: --auth-token" in check["evidence"]
