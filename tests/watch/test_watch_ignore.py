"""The watcher never reruns on its own output, caches or editor droppings."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from watch_helpers import Watcher, write_script

from sss_emulator.config import Settings
from sss_emulator.watch.targets import WatchTargets, targets_for, upload_paths

#: Writes into SHARED_DIR and HOME, and leaves a report next to the work dir: all our output.
WRITER = ("#!/bin/bash\necho report > \"$SHARED_DIR/report.txt\"\n"
          "echo note > \"$HOME/note.txt\"\nmkdir -p \"$HOME/sub\" && echo x > \"$HOME/sub/y\"\n"
          "echo wrote\n")


def test_own_output_does_not_trigger_a_run(
    tmp_path: Path, start_watcher: Callable[..., Watcher], watch_env: dict[str, str]
) -> None:
    """Work and shared roots inside the watched folder, --keep: still no loop."""
    script = write_script(tmp_path / "bin" / "writer.sh", WRITER)
    env = dict(watch_env, SSS_WORK_ROOT=str(tmp_path / "bin" / "work"),
               SSS_SHARED_ROOT=str(tmp_path / "bin" / "shared"))
    watcher = start_watcher("bin/writer.sh", "--watch", "--keep", env=env)
    watcher.wait_for(r"run 1 done · exit 0 · [\d.]+s · shared: report.txt")
    watcher.wait_for(r"kept working directory .*/bin/work/call-")
    # An own-output rerun would have started (and named a path under bin/work or bin/shared)
    # before this change is seen, so the next run's number and reason prove there was none.
    script.write_text(WRITER + "# edited\n")
    watcher.wait_for(r"run 2 done · exit 0")
    assert watcher.run_headers() == ["run 1: start", "run 2: changed bin/writer.sh"]
    assert watcher.interrupt() == 0
    assert watcher.run_headers() == ["run 1: start", "run 2: changed bin/writer.sh"]


def test_caches_swap_files_and_ignore_patterns_do_not_trigger(
    tmp_path: Path, start_watcher: Callable[..., Watcher]
) -> None:
    """__pycache__, .git, vim/emacs files and --ignore globs are skipped; the real edit is named."""
    script = write_script(tmp_path / "bin" / "hello.sh", "#!/bin/bash\necho hello\n")
    (tmp_path / "bin" / "out").mkdir()  # the folder itself is not ignored, only its contents
    watcher = start_watcher("bin/hello.sh", "--watch", "--ignore", "*.log",
                            "--ignore", "bin/out/*")
    watcher.wait_for(r"run 1 done · exit 0")
    noise = ["__pycache__/mod.cpython-311.pyc", ".git/index", ".hello.sh.swp", "hello.sh~",
             ".#hello.sh", "4913", "run.log", "out/result.csv"]
    for name in noise:
        path = tmp_path / "bin" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("noise")
    script.write_text("#!/bin/bash\necho edited\n")
    watcher.wait_for(r"^edited$", stream="out")
    assert watcher.run_headers() == ["run 1: start", "run 2: changed bin/hello.sh"]
    assert watcher.interrupt() == 0


def test_watch_path_adds_a_folder(
    tmp_path: Path, start_watcher: Callable[..., Watcher]
) -> None:
    """--watch-path makes a change elsewhere (a library the script uses) rerun it."""
    write_script(tmp_path / "bin" / "hello.sh", "#!/bin/bash\necho hello\n")
    (tmp_path / "lib").mkdir()
    watcher = start_watcher("bin/hello.sh", "--watch", "--watch-path", "lib")
    watcher.wait_for(r"watching bin/, lib/ ")
    watcher.wait_for(r"run 1 done")
    (tmp_path / "lib" / "helpers.py").write_text("X = 1\n")
    watcher.wait_for(r"run 2 done")
    assert watcher.run_headers()[1] == "run 2: changed lib/helpers.py"
    assert watcher.interrupt() == 0


# --- the path rules without a process -------------------------------------------------------


@pytest.fixture
def targets(tmp_path: Path) -> WatchTargets:
    (tmp_path / "bin").mkdir()
    script = write_script(tmp_path / "bin" / "s.sh", "#!/bin/sh\n")
    (tmp_path / "in.json").write_text("{}")
    settings = Settings(bin_dirs=(), work_root=tmp_path / "bin" / "work",
                        shared_root=tmp_path / "shared")
    return targets_for(str(script.relative_to(tmp_path)), ("-p0", "@in.json", "-Oa=@x.csv"),
                       {"ignore": ("*.tmp",)}, tmp_path, settings)


@pytest.mark.parametrize(("relative", "matters"), [
    ("bin/s.sh", True),
    ("bin/helper/lib.py", True),
    ("in.json", True),
    ("x.csv", True),                      # an upload that does not exist yet
    ("other.json", False),                # beside an upload, not one
    ("bin/work/call-1/note.txt", False),  # HOME of a run
    ("bin/work", False),
    ("shared/abc/report.txt", False),
    ("bin/__pycache__/x.pyc", False),
    ("bin/.git/HEAD", False),
    ("bin/.s.sh.swp", False),
    ("bin/s.sh~", False),
    ("bin/.#s.sh", False),
    ("bin/4913", False),
    ("bin/save.tmp", False),              # --ignore
])
def test_which_paths_matter(targets: WatchTargets, tmp_path: Path, relative: str,
                            matters: bool) -> None:
    """Each path is watched or ignored as documented in docs/watch.md."""
    assert targets.matters(str(tmp_path / relative)) is matters


def test_schedule_has_no_overlapping_watches(targets: WatchTargets, tmp_path: Path) -> None:
    """The script folder is watched recursively; the upload folder flat; nothing twice."""
    assert targets.schedule() == [(str(tmp_path / "bin"), True), (str(tmp_path), False)]


def test_upload_paths_in_every_spelling(tmp_path: Path) -> None:
    """``@x``, ``-p0=@x`` and ``-Oa=@x`` name uploads; ``@@x`` is a literal value."""
    args = ["-p0", "@a.json", "-p1=@b.csv", "-Oname=@c.txt", "-p2", "@@literal", "-Ox=y"]
    assert upload_paths(args, tmp_path) == [tmp_path / "a.json", tmp_path / "b.csv",
                                            tmp_path / "c.txt"]
    assert os.path.basename(str(upload_paths(["@d"], tmp_path)[0])) == "d"


def test_a_script_in_the_home_folder_is_watched_one_level_deep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A script right in ~ does not make the watcher crawl the whole home directory."""
    monkeypatch.setenv("HOME", str(tmp_path))
    script = write_script(tmp_path / "s.sh", "#!/bin/sh\n")
    targets = targets_for("s.sh", (), {}, tmp_path, None)
    assert targets.matters(str(script))
    assert targets.matters(str(tmp_path / "helper.sh"))
    assert not targets.matters(str(tmp_path / "projects" / "big" / "file.py"))
    assert targets.schedule() == [(str(tmp_path), False)]
    assert targets.describe() == "./*"


def test_files_of_other_options_are_watched(tmp_path: Path) -> None:
    """--attach uploads, --data seed files, users and authtoken files are watched as files."""
    write_script(tmp_path / "bin" / "s.sh", "#!/bin/sh\n")
    options: dict[str, object] = {"attach": ("extra.csv",), "data": ("model.yml",),
                                  "users": "users.yaml", "authtoken_config": "conf/auth.yaml"}
    targets = targets_for("bin/s.sh", (), options, tmp_path, None)
    for name in ("extra.csv", "model.yml", "users.yaml", "conf/auth.yaml"):
        assert targets.matters(str(tmp_path / name)), name
    assert not targets.matters(str(tmp_path / "unrelated.csv"))
