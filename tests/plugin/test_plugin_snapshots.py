"""Snapshots: golden stdout/stderr/response/SHARED_DIR files, updated in one command."""

from __future__ import annotations

from pathlib import Path

import pytest

SCRIPT = """\
#!/usr/bin/env python3
import datetime, os, sys, uuid
word = os.environ.get("WORD", "hello")
print(word, "at", datetime.datetime.now().isoformat(), "id", uuid.uuid4())
print("home", os.environ["HOME"], "shared", os.environ["SHARED_DIR"])
print("token", sys.argv[1].split("=", 1)[1])
print("me", sys.argv[0])
print("warn", file=sys.stderr)
with open(os.path.join(os.environ["SHARED_DIR"], "report.txt"), "w") as out:
    out.write(word + " report\\n")
"""

TEST = """\
def test_snap(sss, sss_snapshot):
    sss_snapshot(sss.run_server_side_script("snap.py"))

def test_factory(sss_factory, sss_snapshot):
    sss_snapshot(sss_factory(mode="inprocess").run_server_side_script("snap.py"))
"""

CALLS = """\
call: snap.py
snapshot: true
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    scripts = pytester.mkdir("scripts")
    (scripts / "snap.py").write_text(SCRIPT)
    (scripts / "snap.py").chmod(0o755)
    pytester.makeini("[pytest]\nsss_bin_dirs = scripts\n")
    pytester.makepyfile(test_snap=TEST)
    pytester.path.joinpath("sss_snap.yaml").write_text(CALLS)
    return pytester


def test_missing_snapshot_fails_until_updated(project: pytest.Pytester) -> None:
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(["*no snapshot at *__sss_snapshots__*--sss-update-snapshots*"])
    project.runpytest("-p", "no:cacheprovider", "--sss-update-snapshots").assert_outcomes(
        passed=3)
    folder = project.path / "__sss_snapshots__" / "test_snap" / "test_snap"
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file()) == [".sss-snapshot.json", "response.xml",
                                      "shared/report.txt", "stderr.txt", "stdout.txt"]
    stdout = (folder / "stdout.txt").read_text()
    assert stdout.startswith("hello at <TIMESTAMP> id <UUID>\nhome <HOME> shared <SHARED_DIR>\n")
    assert "token <TOKEN>\nme <BIN_DIR>/snap.py\n" in stdout
    assert (folder / "shared" / "report.txt").read_text() == "hello report\n"
    xml = (folder / "response.xml").read_text()
    assert 'srid="<SRID>"' in xml and 'timestamp="<TIMESTAMP>"' in xml
    assert "<call>snap.py</call>" in xml
    assert (project.path / "__sss_snapshots__" / "sss_snap" / "snap.py" / "stdout.txt").is_file()
    factory = project.path / "__sss_snapshots__" / "test_snap" / "test_factory" / "stdout.txt"
    assert factory.read_text() == stdout  # in-process, other folders: the same snapshot
    # stable: a second run with fresh tokens, paths and times matches
    project.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3)


def test_a_change_fails_with_a_readable_diff_and_update_rewrites(
        project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    project.runpytest("-p", "no:cacheprovider", "--sss-update-snapshots").assert_outcomes(
        passed=3)
    monkeypatch.setenv("WORD", "goodbye")
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines([
        "*differs from its snapshot*",
        "*--- snapshot stdout.txt*",
        "*+++ this run stdout.txt*",
        "*-hello at <TIMESTAMP> id <UUID>*",
        "*+goodbye at <TIMESTAMP> id <UUID>*",
    ])
    result.stdout.fnmatch_lines(["*-hello report*", "*+goodbye report*"])
    project.runpytest("-p", "no:cacheprovider", "--sss-update-snapshots").assert_outcomes(
        passed=3)
    project.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3)
    folder = project.path / "__sss_snapshots__" / "test_snap" / "test_snap"
    assert (folder / "shared" / "report.txt").read_text() == "goodbye report\n"


def test_a_file_the_run_no_longer_writes_is_reported(project: pytest.Pytester) -> None:
    project.runpytest("-p", "no:cacheprovider", "--sss-update-snapshots").assert_outcomes(
        passed=3)
    extra = project.path / "__sss_snapshots__" / "test_snap" / "test_snap" / "shared" / "old.txt"
    extra.write_text("gone\n")
    result = project.runpytest("-p", "no:cacheprovider", "-k", "test_snap and not yaml")
    result.stdout.fnmatch_lines(["*shared/old.txt: in the snapshot folder, but not written by "
                                 "the snapshot (.sss-snapshot.json does not list it*"])


def test_snapshot_key_must_be_boolean(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("sss_bad.yaml").write_text("call: x.py\nsnapshot: yes please\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*'snapshot' must be true or false*"])


def test_snapshot_layout_beside_the_tests(tmp_path: Path) -> None:
    from pytest_sss_emulator.snapshots import snapshot_folder

    assert snapshot_folder(tmp_path / "test_a.py", "test_b[x/y]") == (
        tmp_path / "__sss_snapshots__" / "test_a" / "test_b_x_y")
    assert snapshot_folder(tmp_path / "t.py", "t", "second").name == "second"


def test_a_name_that_leads_out_of_the_tests_folder_is_refused(
        pytester: pytest.Pytester) -> None:
    scripts = pytester.mkdir("scripts")
    (scripts / "snap.py").write_text(SCRIPT)
    (scripts / "snap.py").chmod(0o755)
    pytester.makeini("[pytest]\nsss_bin_dirs = scripts\n")
    pytester.makepyfile(test_names="""
import pytest

@pytest.mark.parametrize("name", ["..", "a/../../b", "."], ids=["up", "through", "here"])
def test_named(sss, sss_snapshot, name):
    sss_snapshot(sss.run_server_side_script("snap.py"), name=name)
""")
    pytester.path.joinpath("sss_names.yaml").write_text(
        "name: ..\ncall: snap.py\nsnapshot: true\n")
    keep = pytester.path / "__sss_snapshots__" / "keep.txt"
    keep.parent.mkdir()
    keep.write_text("mine\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--sss-update-snapshots")
    result.assert_outcomes(failed=4)
    for name in ("'..'", "'a/../../b'", "'.'"):
        result.stdout.fnmatch_lines([f"*{name} is refused as a snapshot name*"])
    written = sorted(p.relative_to(pytester.path).as_posix()
                     for p in (pytester.path / "__sss_snapshots__").rglob("*"))
    assert written == ["__sss_snapshots__/keep.txt"]
    assert keep.read_text() == "mine\n"


def test_update_never_deletes_a_file_it_did_not_write(project: pytest.Pytester) -> None:
    project.runpytest("-p", "no:cacheprovider", "--sss-update-snapshots").assert_outcomes(
        passed=3)
    folder = project.path / "__sss_snapshots__" / "test_snap" / "test_snap"
    (folder / "README.md").write_text("reviewed by Ann\n")
    (folder / "shared" / "notes.txt").write_text("mine\n")
    project.runpytest("-p", "no:cacheprovider", "--sss-update-snapshots").assert_outcomes(
        passed=3)
    assert (folder / "README.md").read_text() == "reviewed by Ann\n"
    assert (folder / "shared" / "notes.txt").read_text() == "mine\n"
    assert (folder / "shared" / "report.txt").read_text() == "hello report\n"


def test_a_snapshot_of_an_older_version_is_adopted_and_updated(
        project: pytest.Pytester) -> None:
    """Snapshots written before the manifest existed: their layout files are the snapshot's."""
    project.runpytest("-p", "no:cacheprovider", "--sss-update-snapshots").assert_outcomes(
        passed=3)
    for manifest in (project.path / "__sss_snapshots__").rglob(".sss-snapshot.json"):
        manifest.unlink()
    folder = project.path / "__sss_snapshots__" / "test_snap" / "test_snap"
    (folder / "shared" / "stale.txt").write_text("left by an older run\n")
    project.runpytest("-p", "no:cacheprovider", "--sss-update-snapshots").assert_outcomes(
        passed=3)
    assert not (folder / "shared" / "stale.txt").exists()
    assert (folder / ".sss-snapshot.json").is_file()
    project.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3)
