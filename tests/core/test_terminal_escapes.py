"""Text an attacker chooses never drives the user's terminal.

A script file name in a cloned repository, a call sent to ``record``, a file a script leaves in
SHARED_DIR: each is printed in one of our messages. Printed raw, ``\\x1b]0;…\\x07`` retitles the
terminal and other sequences rewrite the screen or answer into its input. Each test runs the
real ``sss-emulate`` with a pseudo-terminal as stdout and stderr, as a user's shell would.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from terminal_support import Terminal, in_terminal, raw_controls

#: A window-title sequence (OSC 0 … BEL) and a CSI that clears the screen.
EVIL = "evil\x1b]0;pwned\x07\x1b[2J"
SHOWN = rb"evil\x1b]0;pwned\x07\x1b[2J"  # the same, as printable() shows it
SSS = [sys.executable, "-m", "sss_emulator"]


def _hostile_bin(tmp_path: Path) -> Path:
    """A bin dir as a cloned script repository may have it: a script with an escape in its
    name."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / f"{EVIL}.sh"
    script.write_text("#!/bin/bash\necho hi\n")
    script.chmod(0o755)
    return bin_dir


def test_printable_shows_controls_and_keeps_text() -> None:
    from sss_emulator.terminal import printable

    assert printable("a\tb\nc") == "a\tb\nc"
    assert printable("é ü 日本") == "é ü 日本"
    assert printable("\x1b\x07\r\x00\x7f\x9b") == r"\x1b\x07\x0d\x00\x7f\x9b"
    assert printable("a\u202eb") == r"a\u202eb"  # a right-to-left override reorders a line
    assert printable("a\tb\nc", one_line=True) == r"a\x09b\x0ac"  # a name forges no line


def test_list_shows_a_hostile_script_name_escaped(tmp_path: Path, env: dict[str, str]) -> None:
    shown = in_terminal([*SSS, "list", "--bin-dir", str(_hostile_bin(tmp_path))], env=env)
    assert SHOWN in shown, shown
    assert raw_controls(shown) == [], shown


def test_doctor_shows_a_hostile_name_and_shebang_escaped(tmp_path: Path,
                                                         env: dict[str, str]) -> None:
    bin_dir = _hostile_bin(tmp_path)
    (bin_dir / f"{EVIL}.sh").write_text(f"#!/bin/bash {EVIL}\necho hi >&2\n")
    shown = in_terminal([*SSS, "doctor", "--bin-dir", str(bin_dir), "--no-run", f"{EVIL}.sh"],
                        env=env)
    assert shown.count(SHOWN) >= 2, shown  # the name and the shebang line
    assert raw_controls(shown) == [], shown


def test_doctor_keeps_a_name_with_a_newline_on_one_line(tmp_path: Path,
                                                        env: dict[str, str]) -> None:
    """A script named 'x.sh\n[ok  ] permission: …' would forge a check that passed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    name = "x.sh\n[ok  ] forged: all good"
    (bin_dir / name).write_text("#!/bin/bash\necho hi\n")
    (bin_dir / name).chmod(0o755)
    shown = in_terminal([*SSS, "doctor", "--bin-dir", str(bin_dir), "--no-run", name], env=env)
    assert not any(line.startswith(b"[ok  ] forged") for line in shown.splitlines()), shown
    assert rb"x.sh\x0a[ok  ] forged: all good" in shown, shown


def test_a_run_summary_names_shared_files_escaped(tmp_path: Path, env: dict[str, str]) -> None:
    """The script's own output is shown as it is; our summary line of its SHARED_DIR files
    is not."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "share.sh").write_text(
        "#!/bin/bash\nprintf 'x' > \"$SHARED_DIR/$(printf 'evil\\033]0;pwned\\007')\"\n")
    (bin_dir / "share.sh").chmod(0o755)
    shown = in_terminal([*SSS, "--bin-dir", str(bin_dir), "share.sh"], env=env)
    assert rb"shared: evil\x1b]0;pwned\x07" in shown, shown
    assert raw_controls(shown) == [], shown


def test_watch_shows_a_changed_hostile_path_escaped(tmp_path: Path, env: dict[str, str]) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "hello.sh").write_text("#!/bin/bash\necho hello\n")
    (bin_dir / "hello.sh").chmod(0o755)
    terminal = Terminal([*SSS, "watch", "--bin-dir", str(bin_dir), "hello.sh"],
                        cwd=tmp_path, env=env)
    try:
        terminal.wait_for(rb"run 1 done")
        (bin_dir / f"{EVIL}.sh").write_text("# a file a pull brought in\n")
        terminal.wait_for(rb"run 2 done")
        (bin_dir / "x\nsss-emulate: run 9 done").write_text("# a name that forges a line\n")
        terminal.wait_for(rb"run 3 done")
    finally:
        shown = terminal.interrupt()
    assert SHOWN in shown, shown
    assert rb"run 3: changed bin/x\x0asss-emulate: run 9 done" in shown, shown
    assert raw_controls(shown) == [], shown


def test_a_bad_setting_quoting_a_file_is_shown_escaped(tmp_path: Path,
                                                        env: dict[str, str]) -> None:
    """click's own error line (here: the bin dir a project's config names does not exist)."""
    shown = in_terminal([*SSS, "list", "--bin-dir", str(tmp_path / EVIL)], env=env)
    assert SHOWN in shown, shown
    assert raw_controls(shown) == [], shown


def test_log_lines_are_escaped_but_werkzeugs_own_colours_are_kept() -> None:
    """Our log lines quote requests and files; werkzeug escapes its request line itself and
    colours it, so escaping it again would print ``\\x1b[31m`` as text."""
    import logging

    from sss_emulator.logs import printable_formatter

    formatter = printable_formatter("%(name)s: %(message)s")
    ours = logging.LogRecord("sss_emulator.fidelity.record", logging.WARNING, __file__, 1,
                             "cannot reach it for %s", ("G\x1b[2JET",), None)
    assert formatter.format(ours) == r"sss_emulator.fidelity.record: cannot reach it for G\x1b[2JET"
    request_line = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '"%s" %s',
                                     ("\x1b[31mGET /\\x1b HTTP/1.1\x1b[0m", 400), None)
    assert formatter.format(request_line) == 'werkzeug: "\x1b[31mGET /\\x1b HTTP/1.1\x1b[0m" 400'


def test_a_newline_in_a_request_path_forges_no_line_of_ours(tmp_path: Path,
                                                           env: dict[str, str]) -> None:
    """serve logs a refused cross-site request with its path; a path holding %0A must stay on
    that one line, not print a second line that looks like one of ours."""
    import http.client
    import re
    import subprocess

    (tmp_path / "bin").mkdir()
    serve = subprocess.Popen(
        [sys.executable, "-m", "sss_emulator", "serve", "--port", "0", "--quiet",
         "--bin-dir", str(tmp_path / "bin")], env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert serve.stderr is not None
        banner = serve.stderr.readline()
        port = int(re.search(r"127\.0\.0\.1:(\d+)", banner).group(1))  # type: ignore[union-attr]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("POST", "/x%0Asss-emulate:%20sss_emulator.serve.app:%20FORGED",
                           headers={"Sec-Fetch-Site": "cross-site"})
        assert connection.getresponse().status == 403
        connection.close()
    finally:
        serve.terminate()
        _, rest = serve.communicate(timeout=30)
    forged = [line for line in rest.splitlines() if line.startswith("sss-emulate: sss_emulator"
                                                                    ".serve.app: FORGED")]
    assert forged == [], rest
    assert "FORGED" in rest  # the refusal was logged, on one line


@pytest.mark.parametrize("command", [["--bin-dir", "{bin}", "--format", "json", "c1.py"],
                                     ["replay", "--format", "json", "--call", "c1.py",
                                      "--bin-dir", "{bin}"]], ids=["run", "replay"])
def test_a_json_document_carries_no_raw_c1_control_or_bidi_mark(
        tmp_path: Path, env: dict[str, str], command: list[str]) -> None:
    """A script printing U+009B (a one-character CSI) and U+202E: the JSON document we print
    escapes them (\\u009b), and a parser still reads the same text back."""
    import json
    import subprocess

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "c1.py"
    script.write_text(f"#!{sys.executable}\nprint('a\\u009b2Jb\\u202ec\\u007f')\n")
    script.chmod(0o755)
    done = subprocess.run([*SSS, *(word.format(bin=bin_dir) for word in command)],
                          env=env, capture_output=True, timeout=120)
    assert done.returncode in (0, 1), done
    assert raw_controls(done.stdout) == [], done.stdout
    assert "\u202e".encode() not in done.stdout
    document = json.loads(done.stdout)
    text = json.dumps(document, ensure_ascii=False)
    assert "a\u009b2Jb\u202ec\u007f" in text
