"""Watch mode as a user sees it: a real watcher process, real files, reruns read from its output."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from watch_helpers import Watcher, replace_atomically, write_script

RUN_DONE = r"run {n} done · "
HELLO = "#!/bin/bash\necho \"hello ${@: -1}\"\n"


def test_runs_once_at_start_and_again_after_a_change(
    tmp_path: Path, start_watcher: Callable[..., Watcher]
) -> None:
    """The first run starts at once; editing an uploaded input file reruns with the new content."""
    script = write_script(tmp_path / "bin" / "cat.sh", "#!/bin/bash\ncat \"${@: -1}\"; echo\n")
    data = tmp_path / "data.txt"
    data.write_text("first")
    watcher = start_watcher(str(script.relative_to(tmp_path)), "-p0", "@data.txt", "--watch")
    watcher.wait_for(r"^first$", stream="out")
    watcher.wait_for(RUN_DONE.format(n=1) + "exit 0")
    watcher.wait_for(r"watching bin/, data.txt \(events, debounce 50 ms\)")
    data.write_text("second")
    watcher.wait_for(r"^second$", stream="out")
    assert watcher.run_headers() == ["run 1: start", "run 2: changed data.txt"]
    assert watcher.interrupt() == 0


def test_first_messages_come_in_order_each_on_its_own_line(
    tmp_path: Path, start_watcher: Callable[..., Watcher]
) -> None:
    """What is watched, then the run's header, then its output: every line of ours starts a
    line, even after a script whose stderr ends without a newline."""
    script = write_script(tmp_path / "bin" / "partial.sh",
                          "#!/bin/bash\nprintf 'working' >&2\nprintf 'no newline'\n")
    watcher = start_watcher(str(script.relative_to(tmp_path)), "--watch")
    watcher.wait_for(RUN_DONE.format(n=1) + "exit 0")
    assert watcher.interrupt() == 0
    assert watcher.err[0].startswith("sss-emulate: watching bin/ (events")
    assert watcher.run_headers() == ["run 1: start"]
    assert watcher.err[1].endswith("run 1: start")
    assert watcher.err[2] == "working"
    assert watcher.err[3].startswith("sss-emulate: run 1 done · exit 0")
    assert all(line.count("sss-emulate:") <= 1 for line in watcher.err), watcher.transcript()
    assert all("sss-emulate:" not in line or line.startswith("sss-emulate:")
               for line in watcher.err), watcher.transcript()
    assert watcher.out == ["no newline"]


def test_postpone_waits_for_the_first_change(
    tmp_path: Path, start_watcher: Callable[..., Watcher]
) -> None:
    """--postpone: nothing runs until a watched file changes."""
    script = write_script(tmp_path / "bin" / "hello.sh", HELLO)
    watcher = start_watcher("watch", "bin/hello.sh", "--postpone")
    watcher.wait_for(r"watching bin/")
    script.write_text(HELLO + "echo edited\n")
    watcher.wait_for(r"^edited$", stream="out")
    assert watcher.run_headers() == ["run 1: changed bin/hello.sh"]
    assert watcher.interrupt() == 0


def test_three_quick_writes_give_one_run(
    tmp_path: Path, start_watcher: Callable[..., Watcher]
) -> None:
    """An editor's multi-write save (three writes in a row) reruns once, with the last content."""
    script = write_script(tmp_path / "bin" / "hello.sh", HELLO)
    watcher = start_watcher("bin/hello.sh", "--watch", "--debounce-ms", "1000")
    watcher.wait_for(RUN_DONE.format(n=1))
    for n in range(3):
        with script.open("a") as handle:  # three separate open/write/close cycles
            handle.write(f"echo write{n}\n")
    watcher.wait_for(RUN_DONE.format(n=2))
    script.write_text(HELLO + "echo marker\n")  # a later, separate change: run 3
    watcher.wait_for(r"^marker$", stream="out")
    assert watcher.run_headers() == ["run 1: start", "run 2: changed bin/hello.sh",
                                     "run 3: changed bin/hello.sh"]
    assert watcher.matching(r"^write2$", stream="out") == ["write2"]  # run 2 saw all writes
    assert watcher.interrupt() == 0


def test_syntax_error_then_fix_keeps_watching(
    tmp_path: Path, start_watcher: Callable[..., Watcher]
) -> None:
    """A script that cannot even be parsed fails its run; fixing it reruns it."""
    script = write_script(tmp_path / "bin" / "broken.py", "#!/usr/bin/env python3\nprint(\n")
    watcher = start_watcher("bin/broken.py", "--watch")
    watcher.wait_for(RUN_DONE.format(n=1) + "exit 1")
    assert watcher.matching(r"SyntaxError")
    script.write_text("#!/usr/bin/env python3\nprint('fixed')\n")
    watcher.wait_for(RUN_DONE.format(n=2) + "exit 0")
    watcher.wait_for(r"^fixed$", stream="out")  # stdout is read by its own thread: may lag
    assert watcher.matching(r"^fixed$", stream="out") == ["fixed"]
    assert watcher.interrupt() == 0


def test_atomic_replace_and_delete_then_recreate(
    tmp_path: Path, start_watcher: Callable[..., Watcher]
) -> None:
    """Editors that rename a temp file over the script, or delete and recreate it, still rerun."""
    script = write_script(tmp_path / "bin" / "hello.sh", HELLO)
    watcher = start_watcher("bin/hello.sh", "--watch")
    watcher.wait_for(RUN_DONE.format(n=1) + "exit 0")
    replace_atomically(script, HELLO + "echo replaced\n")
    watcher.wait_for(r"^replaced$", stream="out")
    assert watcher.run_headers()[1].startswith("run 2: changed bin/hello.sh")
    watcher.wait_for(RUN_DONE.format(n=2) + "exit 0")
    script.unlink()
    watcher.wait_for(RUN_DONE.format(n=3) + r"refused \(exit 125\)")
    assert watcher.matching(r"error: Script 'bin/hello.sh' not found")
    write_script(script, HELLO + "echo recreated\n")
    watcher.wait_for(r"^recreated$", stream="out")
    watcher.wait_for(RUN_DONE.format(n=4) + "exit 0")
    assert watcher.interrupt() == 0


def test_unexecutable_script_is_reported_and_chmod_reruns(
    tmp_path: Path, start_watcher: Callable[..., Watcher]
) -> None:
    """A script without its x bit is refused as the server would; chmod +x alone reruns it."""
    script = write_script(tmp_path / "bin" / "hello.sh", HELLO, mode=0o644)
    watcher = start_watcher("bin/hello.sh", "--watch")
    watcher.wait_for(RUN_DONE.format(n=1) + "refused")
    script.chmod(0o755)
    watcher.wait_for(RUN_DONE.format(n=2) + "exit 0")
    assert watcher.interrupt() == 0


def test_json_prints_one_document_per_run(
    tmp_path: Path, start_watcher: Callable[..., Watcher]
) -> None:
    """--format json: each run is one JSON line on stdout; our messages stay on stderr."""
    script = write_script(tmp_path / "bin" / "hello.sh", HELLO)
    watcher = start_watcher("watch", "bin/hello.sh", "-p0", "you", "--format", "json")
    watcher.wait_for(RUN_DONE.format(n=1))
    script.write_text(HELLO + "exit 3\n")
    watcher.wait_for(RUN_DONE.format(n=2) + "exit 3")
    assert watcher.interrupt() == 0
    documents = [json.loads(line) for line in watcher.out]
    assert [d["code"] for d in documents] == [0, 3]
    assert all(d["stdout"] == "hello you\n" for d in documents)


def test_config_and_home_are_reread_for_each_run(
    tmp_path: Path, start_watcher: Callable[..., Watcher]
) -> None:
    """pyproject.toml and the home skeleton are watched and read anew; a broken one is reported."""
    write_script(tmp_path / "bin" / "show.sh",
                 "#!/bin/bash\necho \"greeting=$GREETING home=$(cat \"$HOME/motd\")\"\n")
    (tmp_path / "skel").mkdir()
    (tmp_path / "skel" / "motd").write_text("one")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.sss-emulator]\nhome = "skel"\nenv = ["GREETING=hi"]\n')
    watcher = start_watcher("bin/show.sh", "--watch")
    watcher.wait_for(r"^greeting=hi home=one$", stream="out")
    (tmp_path / "skel" / "motd").write_text("two")
    watcher.wait_for(r"^greeting=hi home=two$", stream="out")
    pyproject.write_text("[tool.sss-emulator\n")
    watcher.wait_for(RUN_DONE.format(n=3) + "refused")
    pyproject.write_text('[tool.sss-emulator]\nhome = "skel"\nenv = ["GREETING=hello"]\n')
    watcher.wait_for(r"^greeting=hello home=two$", stream="out")
    assert watcher.interrupt() == 0


def test_env_twins_and_polling(
    tmp_path: Path, start_watcher: Callable[..., Watcher], watch_env: dict[str, str]
) -> None:
    """SSS_POLL and SSS_DEBOUNCE_MS configure the watcher; polling notices changes too."""
    script = write_script(tmp_path / "bin" / "hello.sh", HELLO)
    env = dict(watch_env, SSS_POLL="1", SSS_DEBOUNCE_MS="300")
    watcher = start_watcher("watch", "bin/hello.sh", env=env)
    watcher.wait_for(r"watching bin/ \(polling, debounce 300 ms\)")
    watcher.wait_for(RUN_DONE.format(n=1))
    script.write_text(HELLO + "echo polled\n")
    watcher.wait_for(r"^polled$", stream="out")
    assert watcher.interrupt() == 0


def test_watch_options_need_watch_mode(tmp_path: Path, watch_env: dict[str, str]) -> None:
    """A watch option without --watch is a usage error naming the fix."""
    import subprocess
    import sys

    write_script(tmp_path / "bin" / "hello.sh", HELLO)
    done = subprocess.run([sys.executable, "-m", "sss_emulator", "bin/hello.sh", "--postpone"],
                          cwd=tmp_path, env=watch_env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 125
    assert "--postpone only applies in watch mode; add --watch." in done.stderr
    assert os.listdir(tmp_path) == ["bin"]


def test_script_folder_removed_and_made_again(
    tmp_path: Path, start_watcher: Callable[..., Watcher]
) -> None:
    """A branch switch that removes and recreates the whole folder: the watcher follows it."""
    import shutil

    script = write_script(tmp_path / "bin" / "hello.sh", HELLO)
    watcher = start_watcher("bin/hello.sh", "--watch")
    watcher.wait_for(RUN_DONE.format(n=1) + "exit 0")
    shutil.rmtree(tmp_path / "bin")
    watcher.wait_for(RUN_DONE.format(n=2) + "refused")
    write_script(script, HELLO + "echo back\n")
    watcher.wait_for(r"^back$", stream="out")
    assert watcher.interrupt() == 0
