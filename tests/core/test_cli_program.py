"""The program's start: a plain ``SCRIPT ARGS...`` line is read without click, exactly as click
reads it, and the program ends without the interpreter's teardown (sss_emulator.cli.program)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import click
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sss_emulator.cli import commands
from sss_emulator.cli.program import COMMANDS, plain_run
from sss_emulator.cli.words import PLAIN_OPTIONS
from sss_emulator.invocation import RunInvocation

REPO = Path(__file__).resolve().parents[2]

#: Words that are script arguments, options of ours, commands, or look like one of them.
WORDS = ["x.bash", "sample_scripts/minimal.bash", "-p0", "-p12", "-p", "-pa", "-p0=x", "-p1h",
         "-Ofoo=bar", "-Oname", "-O", "-O=x", "-Ochannel=1", "-Oh", "-Ofoo=ch", "value",
         "two words", "@file.json", "", "-", "--", "-x", "-h", "--help", "--version", "--keep",
         "--format", "json", "--format=json", "--timeout", "5", "--debug", "--watch",
         "--debug-wait", "--tmeout", "run", "list", "watch", "serve", "-P0", "-p٣", "--no-mounts",
         "--bin-dir", "B", "--bin-dir=B", "--home", "--home=", "--profile", "--keep=1",
         "--timeout=5", "--timeout=soon", "--format=", "--user"]


def _click_reads(argv: list[str]) -> tuple[RunInvocation, bool] | str:
    """What click's command line hands to execute() for ``argv`` (or how it ended instead)."""
    seen: list[tuple[RunInvocation, bool]] = []

    def execute(invocation: RunInvocation, *, debug: bool = False, **_: Any) -> int:
        seen.append((invocation, debug))
        return 0

    original = commands.execute
    commands.execute = execute  # type: ignore[assignment]
    try:
        commands.main.main(args=argv, prog_name="sss-emulate", standalone_mode=False)
    except SystemExit as done:
        if not seen:
            return f"exit {done.code}"
    except (click.ClickException, click.Abort) as error:
        return f"{type(error).__name__}: {error}"
    finally:
        commands.execute = original  # type: ignore[assignment]
    return seen[0] if seen else "no run"


@given(st.lists(st.sampled_from(WORDS), min_size=0, max_size=6))
def test_a_plain_line_is_read_as_click_reads_it(argv: list[str]) -> None:
    plain = plain_run(argv, {})
    if plain is None:
        return
    read = _click_reads(argv)
    assert not isinstance(read, str), read
    invocation, debug = read
    assert (invocation.script, invocation.script_args, invocation.options, debug) == (
        plain.script, plain.script_args, plain.options, False)


@pytest.mark.parametrize("argv", [
    ["x.bash"], ["x.bash", "-p0", "v", "-Ofoo=bar"], ["x.bash", "-p0", "two words", "@f.json"],
    ["x.bash", "-Oname", "value", "-p10", ""], ["x.bash", "-Ochannel=1"], ["x.bash", "-p0", "-h"],
    ["x.bash", "-p0", "--keep"], ["x.bash", "-Oname", "--format"]])
def test_the_usual_lines_are_plain(argv: list[str]) -> None:
    assert plain_run(argv, {}) == RunInvocation(script=argv[0], script_args=tuple(argv[1:]),
                                                cwd=Path.cwd())


@pytest.mark.parametrize(("argv", "options"), [
    (["--bin-dir", "B", "x.bash", "-p0", "x"], {"bin_dirs": ("B",)}),
    (["x.bash", "--keep", "-p0", "--keep", "--format=json"], {"keep": True, "format": "json"}),
    (["--bin-dir=A", "--home", "H", "x.bash", "--bin-dir", "B", "--timeout", "off"],
     {"bin_dirs": ("A", "B"), "home": "H", "timeout": "off"}),
    (["--profile", "p", "--format", "xml", "--format", "text", "x.bash"],
     {"profile": "p", "format": "text"})])
def test_the_common_options_are_plain_too(argv: list[str], options: dict[str, object]) -> None:
    plain = plain_run(argv, {})
    assert plain is not None and plain.options == options
    assert (plain.script, plain.options) == (_click_reads(argv)[0].script, options)  # type: ignore[index]


@pytest.mark.parametrize("argv", [
    [], ["--help"], ["run", "x.bash"], ["list"], ["x.bash", "--keep=1"], ["x.bash", "--home"],
    ["x.bash", "--timeout", "soon"], ["x.bash", "--home", "-p0"], ["--user", "u", "x.bash"],
    ["x.bash", "-p0", "x", "--x"], ["x.bash", "--"], ["x.bash", "-"], ["-p0", "x"],
    ["--keep"], ["x.bash", "--format="]])
def test_everything_else_goes_to_click(argv: list[str]) -> None:
    assert plain_run(argv, {}) is None


def test_the_plain_options_are_runs_own() -> None:
    """cli/words.py's table says what click's ``run`` declares for each of those options."""
    run = commands.main.commands["run"]
    declared = {opt: param for param in run.params if isinstance(param, click.Option)
                for opt in param.opts}
    for option, (dest, kind) in PLAIN_OPTIONS.items():
        param = declared[option]
        assert param.name == dest
        assert kind == ("flag" if param.is_flag else "multiple" if param.multiple else "value")


def test_shell_completion_goes_to_click() -> None:
    assert plain_run(["x.bash"], {"_SSS_EMULATE_COMPLETE": "bash_complete"}) is None


def test_what_plain_run_knows_of_the_command_line_is_still_true() -> None:
    """The commands, and that -h is the only short option run has (cli/words.py's rule)."""
    assert set(commands.main.commands) == set(COMMANDS)
    with click.Context(commands.main, **commands.main.context_settings) as group_ctx:
        run = commands.main.commands["run"]
        with click.Context(run, parent=group_ctx) as ctx:
            short = {opt for param in run.get_params(ctx) for opt in
                     [*param.opts, *param.secondary_opts]
                     if opt.startswith("-") and not opt.startswith("--")}
    assert short == {"-h"}


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "SSS_WORK_ROOT": str(tmp_path / "w"),
            "SSS_SHARED_ROOT": str(tmp_path / "s")}


@pytest.mark.parametrize("options", [[], ["--bin-dir", "sample_scripts", "--timeout", "60"]])
def test_a_plain_run_loads_no_click_and_ends_as_before(tmp_path: Path,
                                                       options: list[str]) -> None:
    code = ("import runpy, sys, atexit\n"
            "atexit.register(lambda: print('loaded click:', 'click' in sys.modules, "
            "file=sys.stderr))\n"
            f"sys.argv = ['sss-emulate', *{options!r}, 'sample_scripts/minimal.bash', '-p0', "
            "'x']\n"
            "runpy.run_module('sss_emulator', run_name='__main__')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, env=_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith(" x")
    assert "sss-emulate: exit 0" in done.stderr
    assert "loaded click: False" in done.stderr  # atexit functions ran, output was flushed
    assert list((tmp_path / "w").iterdir()) == []


@pytest.mark.parametrize(("args", "code"), [
    (["sample_scripts/minimal.bash", "--tmeout", "5"], 125),  # click: no such option
    (["sample_scripts/missing.bash"], 125),  # plain: refused
    (["sample_scripts/minimal.bash", "-p0", "x", "--format", "json"], 0)])
def test_exit_status_is_the_same_both_ways(tmp_path: Path, args: list[str], code: int) -> None:
    ways = [[sys.executable, "-m", "sss_emulator"],
            [sys.executable, "-c", "from sss_emulator.cli import main; main()"]]
    done = [subprocess.run([*way, *args], capture_output=True, text=True, cwd=REPO,
                           env=_env(tmp_path)) for way in ways]
    assert [d.returncode for d in done] == [code, code]
    assert done[0].stderr.splitlines()[-1:] == done[1].stderr.splitlines()[-1:]


def test_end_program_waits_for_threads_runs_atexit_and_flushes(tmp_path: Path) -> None:
    marker = tmp_path / "atexit"
    code = textwrap.dedent(f"""
        import atexit, sys, threading, time
        from sss_emulator.cli.program import end_program
        atexit.register(lambda: open({str(marker)!r}, "w").write("ran"))
        def late():
            time.sleep(0.2)
            sys.stdout.write("thread;")
        threading.Thread(target=late).start()
        sys.stdout.write("unflushed;")
        end_program(int(sys.argv[1]))
    """)
    done = subprocess.run([sys.executable, "-c", code, "3"], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (3, "unflushed;thread;")
    assert marker.read_text() == "ran"
    quick = code.replace("threading.Thread(target=late).start()", "")
    marker.unlink()
    done = subprocess.run([sys.executable, "-c", quick, "241"], capture_output=True, text=True)
    assert (done.returncode, done.stdout, marker.read_text()) == (241, "unflushed;", "ran")


@pytest.mark.parametrize("extra", [[], ["--timeout", "60"]], ids=["plain", "click"])
def test_a_reader_that_goes_away_ends_nothing_with_a_traceback(tmp_path: Path,
                                                               extra: list[str]) -> None:
    """``sss-emulate script | head -1``: once a traceback of the live output sink."""
    script = tmp_path / "many.sh"
    script.write_text("#!/bin/sh\ni=0\nwhile [ $i -lt 20000 ]; do echo line $i; i=$((i+1)); "
                      "done\n")
    script.chmod(0o755)
    command = " ".join([sys.executable, "-m", "sss_emulator", *extra, str(script)])
    done = subprocess.run(["bash", "-c", f"set -o pipefail; {command} | head -1"],
                          capture_output=True, text=True, env=_env(tmp_path), timeout=120)
    assert done.stdout == "line 0\n"
    assert "Traceback" not in done.stderr and "failed" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("extra", [[], ["--format", "json"]], ids=["plain", "click"])
def test_a_closed_stdout_still_runs_the_script(tmp_path: Path, extra: list[str]) -> None:
    """``sss-emulate script >&-``: once an AttributeError about ``None.buffer``."""
    marker = tmp_path / "ran"
    script = tmp_path / "touch.sh"
    script.write_text(f"#!/bin/sh\necho out\ntouch '{marker}'\n")
    script.chmod(0o755)
    command = " ".join([sys.executable, "-m", "sss_emulator", *extra, str(script)])
    done = subprocess.run(["bash", "-c", f"{command} >&-"], capture_output=True, text=True,
                          env=_env(tmp_path), timeout=120)
    assert marker.exists()
    assert "Traceback" not in done.stderr and "error" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr


def test_output_to_a_full_disk_is_one_line_and_the_run_goes_on(tmp_path: Path) -> None:
    """``sss-emulate script > /dev/full``: once a traceback of the live output sink."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    marker = tmp_path / "ran"
    script = tmp_path / "touch.sh"
    script.write_text(f"#!/bin/sh\necho out\nsleep 0.2\ntouch '{marker}'\n")
    script.chmod(0o755)
    done = subprocess.run(["bash", "-c", f"{sys.executable} -m sss_emulator {script} > /dev/full"],
                          capture_output=True, text=True, env=_env(tmp_path), timeout=120)
    assert marker.exists()
    assert "Traceback" not in done.stderr, done.stderr
    assert "output can no longer be shown (No space left on device)" in done.stderr
