"""``sss-emulate pull`` against a second ``sss-emulate serve`` seeded with a model and records:
the seed it writes loads into a fresh stand-in and gives back the same entities."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import linkahead
import pytest
from lxml import etree
from serve_support import banner_url

from sss_emulator.backend.store import EntityStore
from sss_emulator.fidelity.pull import (
    FILES_MARKER,
    PullError,
    PullOptions,
    SeedWriter,
    pull,
)

DATA = Path(__file__).parent / "data" / "pull"
USERS = """
users:
  admin: {password: admin-pw, roles: [administration]}
  alice: {password: alice-pw, roles: [team]}
roles:
  team: []
"""


@dataclass
class Source:
    """A running ``sss-emulate serve`` with data, and where its request log goes."""

    url: str
    process: subprocess.Popen[str]
    log: list[str]


def _serve(tmp: Path, *data: Path, quiet: bool = True) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    (tmp / "users.yaml").write_text(USERS)
    args = [sys.executable, "-m", "sss_emulator", "serve", "--port", "0",
            "--users", str(tmp / "users.yaml"), "--bin-dir", str(tmp),
            "--work-root", str(tmp / "work"), "--shared-root", str(tmp / "shared")]
    for path in data:
        args += ["--data", str(path)]
    if quiet:
        args.append("--quiet")
    return subprocess.Popen(args, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True)


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    """The user's server: a model, records with a reference chain, a file, e-mails; every
    request it answers is logged (one line each), so a test can see what pull asked."""
    tmp = tmp_path_factory.mktemp("source")
    process = _serve(tmp, DATA / "model.yml", DATA / "records.yml", quiet=False)
    url = banner_url(process)
    log: list[str] = []

    import threading

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            log.append(line)

    threading.Thread(target=drain, daemon=True).start()
    yield Source(url, process, log)
    _stop(process)


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "pw"
    path.write_text("admin-pw\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def run_pull(tmp_path: Path, source: Source, password_file: Path
             ) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``sss-emulate pull`` as a user types it, in tmp_path."""

    def run(*args: str, url: str | None = None, user: str = "admin",
            password: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
        return subprocess.run(
            [sys.executable, "-m", "sss_emulator", "pull", "--server-url", url or source.url,
             "--user", user, "--password-file", str(password or password_file), *args],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    return run


def _pylib(url: str, user: str = "admin", password: str = "admin-pw") -> None:
    linkahead.configure_connection(url=url, password_method="plain", username=user,
                                   password=password, timeout=60)


def _describe(entity: Any) -> dict[str, Any]:
    """What pylib sees of an entity: the parts a script reads."""
    return {
        "role": entity.role, "name": entity.name, "datatype": entity.datatype,
        "unit": entity.unit, "path": getattr(entity, "path", None),
        "parents": sorted(p.id for p in entity.parents),
        "properties": sorted(
            (p.id, p.name, str(p.datatype), repr(p.value), p.unit,
             str(entity.get_importance(p)))
            for p in entity.properties),
    }


def _error_line(stderr: str) -> str:
    """The one error line, which ends the output (progress lines may come before it)."""
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 1 and errors[0] == lines[-1], stderr
    assert "Traceback" not in stderr
    return errors[0].split("error: ", 1)[1]


def _seed_ids(seed: Path) -> list[int]:
    root = etree.parse(str(seed)).getroot()
    return [int(child.get("id")) for child in root]


def test_round_trip_gives_back_the_same_entities_and_files(
        tmp_path: Path, source: Source, run_pull: Callable[..., Any]) -> None:
    """Pulled with every reference followed, a seed served by a fresh stand-in answers pylib
    exactly as the user's server does: ids, parents, properties, datatypes, file bytes."""
    done = run_pull("FIND Experiment", "--depth", "3", "--files", "-o", "seed.xml")
    assert done.returncode == 0, done.stderr
    seed = tmp_path / "seed.xml"
    ids = _seed_ids(seed)
    assert len(ids) == len(set(ids)) == 11 + 7  # model (3 RecordTypes, 8 Properties) + 7

    _pylib(source.url)
    original = {i: _describe(linkahead.Entity(id=i).retrieve()) for i in ids}
    scan_id = next(i for i, d in original.items() if d["role"] == "File")
    original_bytes = linkahead.File(id=scan_id).retrieve().download(str(tmp_path / "a.csv"))
    every = linkahead.Query("FIND ENTITY").execute()
    assert sorted(e.id for e in every) == sorted(ids)  # the whole server fits the chain

    copy_dir = tmp_path / "copy"
    copy_dir.mkdir()
    copy = _serve(copy_dir, seed)
    try:
        _pylib(banner_url(copy))
        pulled = {i: _describe(linkahead.Entity(id=i).retrieve()) for i in ids}
        copied_file = linkahead.File(id=scan_id).retrieve()
        copied_file.download(str(tmp_path / "b.csv"))
    finally:
        _stop(copy)
    assert pulled == original
    assert (tmp_path / "b.csv").read_bytes() == Path(original_bytes).read_bytes() == (
        DATA / "scan.csv").read_bytes()


def test_depth_follows_references_and_empties_what_lies_beyond(
        tmp_path: Path, run_pull: Callable[..., Any]) -> None:
    """--depth 1 keeps the experiment and its samples; the samples' owners and parent sample
    are emptied (and counted), and the seed still loads."""
    done = run_pull("FIND Experiment", "-o", "seed.xml")
    assert done.returncode == 0, done.stderr
    assert "3 reference(s) past --depth 1 were emptied; use --depth 2" in done.stderr
    store = EntityStore()
    loaded = store.load(tmp_path / "seed.xml")
    names = sorted(e.name or "" for e in loaded if e.role in ("Record", "File"))
    assert names == ["E1", "S1", "S2"]
    s1 = store.find_by_name("S1")[0]
    assert {p.name: p.value for p in s1.properties}["owner"] is None


def test_redact_replaces_text_values_with_stable_placeholders(
        tmp_path: Path, run_pull: Callable[..., Any]) -> None:
    """No e-mail address reaches the seed; the same address gets the same placeholder in both
    properties that hold it, so a lookup by value still finds the record."""
    done = run_pull("FIND Experiment", "--depth", "3", "--redact", "email",
                    "--redact", "contacts", "-o", "seed.xml")
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "seed.xml").read_text()
    assert "@example.org" not in text
    store = EntityStore()
    store.load(tmp_path / "seed.xml")
    ann = store.find_by_name("Ann")[0]
    email = {p.name: p.value for p in ann.properties}["email"]
    e1 = store.find_by_name("E1")[0]
    contacts = {p.name: p.value for p in e1.properties}["contacts"]
    assert re.fullmatch(r"(email|contacts)-\d", email)
    assert contacts[0] == email  # ann@… in both properties: one placeholder
    assert re.fullmatch(r"(email|contacts)-\d", contacts[1]) and contacts[1] != email


def test_redact_of_a_number_is_refused_and_nothing_written(
        tmp_path: Path, run_pull: Callable[..., Any]) -> None:
    done = run_pull("FIND Sample", "--redact", "weight", "-o", "seed.xml")
    assert done.returncode == 125
    assert _error_line(done.stderr).startswith("--redact weight: its values are DOUBLE")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pw"]
    done = run_pull("FIND Sample", "--redact", "emial", "-o", "seed.xml")
    assert done.returncode == 125
    assert _error_line(done.stderr).startswith("--redact emial: the server's data model has no")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pw"]


def test_after_the_login_pull_only_reads(tmp_path: Path, source: Source,
                                         run_pull: Callable[..., Any]) -> None:
    """Every request of a pull after its login is a GET: nothing on the server changes."""
    before = len(source.log)
    done = run_pull("FIND Experiment", "FIND Person", "--depth", "2", "--files",
                    "--page-size", "2", "-o", "seed.xml")
    assert done.returncode == 0, done.stderr
    requests = [re.search(r'"([A-Z]+) (\S+) HTTP', line) for line in source.log[before:]]
    seen = [(m.group(1), m.group(2)) for m in requests if m]
    assert seen[0] == ("POST", "/login")
    assert len(seen) > 8  # paged: several pages per query
    assert {method for method, _ in seen[1:]} == {"GET"}, seen
    assert any(path.startswith("/FileSystem/") for _, path in seen)


def test_never_overwrites_without_force(tmp_path: Path, run_pull: Callable[..., Any]) -> None:
    """An existing file stays as it was; --force replaces it."""
    (tmp_path / "seed.xml").write_text("mine")
    done = run_pull("FIND Person", "-o", "seed.xml")
    assert done.returncode == 125
    assert "seed.xml exists; add --force" in done.stderr
    assert (tmp_path / "seed.xml").read_text() == "mine"
    done = run_pull("FIND Person", "-o", "seed.xml", "--force")
    assert done.returncode == 0, done.stderr
    assert "<Record" in (tmp_path / "seed.xml").read_text()


def test_force_never_replaces_a_files_folder_pull_did_not_make(
        tmp_path: Path, run_pull: Callable[..., Any]) -> None:
    folder = tmp_path / "seed.files"
    folder.mkdir()
    (folder / "precious.txt").write_text("keep me")
    done = run_pull("FIND Sample", "--files", "-o", "seed.xml", "--force")
    assert done.returncode == 125
    assert "was not made by sss-emulate pull" in done.stderr
    assert (folder / "precious.txt").read_text() == "keep me"
    assert not (tmp_path / "seed.xml").exists()
    folder_made = tmp_path / "other.files"
    done = run_pull("FIND Sample", "--depth", "2", "--files", "-o", "other.xml")
    assert done.returncode == 0, done.stderr
    assert (folder_made / FILES_MARKER).is_file()
    assert (folder_made / "data" / "scans" / "scan.csv").is_file()
    done = run_pull("FIND Sample", "--depth", "2", "--files", "-o", "other.xml", "--force")
    assert done.returncode == 0, done.stderr


def test_force_without_files_leaves_no_stale_contents(tmp_path: Path,
                                                      run_pull: Callable[..., Any]) -> None:
    """A seed pulled again with --force and without --files (or under the caps) must not be
    served the old contents an earlier pull left in seed.files/."""
    done = run_pull("FIND Sample", "--depth", "2", "--files", "-o", "seed.xml")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "seed.files" / FILES_MARKER).is_file()
    done = run_pull("FIND Sample", "--depth", "2", "-o", "seed.xml", "--force")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "seed.files").exists()


@pytest.mark.parametrize("cap", ["--max-file-size", "--max-files-total"])
def test_file_size_caps_keep_metadata_only(tmp_path: Path, run_pull: Callable[..., Any],
                                           cap: str) -> None:
    """The 21-byte scan is over a 10-byte cap, per file or in total: metadata only."""
    done = run_pull("FIND FILE", "--files", cap, "10", "-o", "seed.xml")
    assert done.returncode == 0, done.stderr
    assert "1 file(s) over --max-file-size/--max-files-total kept their metadata only" in (
        done.stderr)
    assert "/data/scans/scan.csv" in (tmp_path / "seed.xml").read_text()
    assert not (tmp_path / "seed.files").exists()


@pytest.mark.parametrize(("args", "expected"), [
    (("FIND Sample WITH (",), "the server refused the query 'FIND Sample WITH ('"),
    (("FIND Sample", "-o", "dir"), "is a folder; -o names the seed file"),
    (("FIND Sample", "-o", "seed.yml"), "a seed is server XML; name it *.xml"),
    (("FIND Sample", "-o", "nope/seed.xml"), "is not a folder; create it"),
    (("FIND Sample", "--max-file-size", "ten"), "'ten' is not a size"),
    (("SELECT name FROM Sample",), "pull takes FIND queries"),
    (("COUNT RECORD Sample",), "pull takes FIND queries"),
    (("FIND ANY VERSION OF RECORD S1",), "leave out ANY VERSION OF"),
])
def test_bad_input_is_one_line_and_nothing_written(
        tmp_path: Path, run_pull: Callable[..., Any], args: tuple[str, ...],
        expected: str) -> None:
    (tmp_path / "dir").mkdir()
    if "-o" not in args:
        args = (*args, "-o", "seed.xml")
    done = run_pull(*args)
    assert done.returncode == 125
    assert expected in (done.stderr if "Usage:" in done.stderr else _error_line(done.stderr))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "pw"]


def test_refused_login_and_unreachable_server(tmp_path: Path, run_pull: Callable[..., Any]
                                              ) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("nope")
    wrong.chmod(0o600)
    done = run_pull("FIND Sample", "-o", "seed.xml", password=wrong)
    assert done.returncode == 125
    assert "refused the login of 'admin'" in done.stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = run_pull("FIND Sample", "-o", "seed.xml", url=f"http://127.0.0.1:{port}")
    assert done.returncode == 125
    assert "Cannot reach" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pw", "wrong"]


def test_ctrl_c_leaves_no_half_written_file(tmp_path: Path, source: Source,
                                            password_file: Path) -> None:
    """SIGINT in the middle of a paged pull: exit 130, one line, no seed and no temporary."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "sss_emulator", "pull", "--server-url", source.url, "--user",
         "admin", "--password-file", str(password_file), "FIND ENTITY", "FIND ENTITY",
         "FIND ENTITY", "FIND ENTITY", "--page-size", "1", "--files", "-o", "seed.xml"],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert process.stderr is not None
    first = process.stderr.readline()
    assert "sss-emulate pull:" in first
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    assert process.wait(timeout=30) == 130, rest
    assert "interrupted; nothing was written." in rest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pw"]


class _Fake:
    """An entity source whose pages run out at a chosen point (an interrupt, a refusal)."""

    def __init__(self, fail_at: int, error: BaseException) -> None:
        self.calls = 0
        self.fail_at = fail_at
        self.error = error

    def query(self, text: str, start: int, length: int) -> tuple[int, list[Any]]:
        self.calls += 1
        if self.calls >= self.fail_at:
            raise self.error
        elem = etree.fromstring(f'<Record id="{1000 + start}" name="r{start}"/>')
        return 100, [elem]

    def retrieve(self, ids: Any) -> list[Any]:
        return []

    def download(self, path: str, limit: int) -> None:
        return None


@pytest.mark.parametrize("error", [KeyboardInterrupt(), PullError("refused")])
def test_an_interrupted_pull_removes_only_what_it_wrote(tmp_path: Path,
                                                        error: BaseException) -> None:
    (tmp_path / "other.txt").write_text("mine")
    writer = SeedWriter(tmp_path / "seed.xml")
    with pytest.raises(type(error)), writer:
        pull(_Fake(5, error), writer, PullOptions(queries=("FIND Record",), page_size=1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.txt"]


def test_login_rules_are_compares(tmp_path: Path, run_pull: Callable[..., Any]) -> None:
    """A password file others may read is refused; plain http to another machine is warned of
    before anything is sent (as compare and record do)."""
    shared = tmp_path / "shared-pw"
    shared.write_text("admin-pw")
    shared.chmod(0o644)
    done = run_pull("FIND Sample", "-o", "seed.xml", password=shared)
    assert done.returncode == 125
    assert "chmod 600" in _error_line(done.stderr)
    done = run_pull("FIND Sample", "-o", "seed.xml", url="http://linkahead.example.org")
    assert done.returncode == 125
    lines = done.stderr.splitlines()
    assert lines[0].startswith("sss-emulate pull: warning: http://linkahead.example.org is "
                               "plain http"), done.stderr
    assert "Cannot reach" in _error_line(done.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pw", "shared-pw"]


def _pull_as_alice_denied(tmp_path: Path, query: str, permission: str,
                          *args: str) -> tuple[int, subprocess.CompletedProcess[str], Path]:
    """A fresh source server where ``permission`` on the entity ``query`` finds is denied to
    alice (with priority), and alice's pull from it: (that entity's id, the pull, its folder)."""
    served = tmp_path / "served"
    served.mkdir()
    server = _serve(served, DATA / "model.yml", DATA / "records.yml")
    try:
        url = banner_url(server)
        _pylib(url)
        denied = linkahead.Query(query).execute(unique=True)
        denied.retrieve_acl()
        denied.acl.deny(username="alice", realm="PAM", permission=permission, priority=True)
        denied.update_acl()
        work = tmp_path / "work"
        work.mkdir()
        (work / "pw").write_text("alice-pw")
        (work / "pw").chmod(0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
        done = subprocess.run(
            [sys.executable, "-m", "sss_emulator", "pull", "--server-url", url, "--user",
             "alice", "--password-file", "pw", *args, "-o", "seed.xml"],
            cwd=work, env=env, capture_output=True, text=True, timeout=120)
    finally:
        _stop(server)
    return denied.id, done, work


def test_an_entity_the_user_may_not_read_is_one_line_and_nothing_written(
        tmp_path: Path) -> None:
    """alice may read the samples but not Bob, whom one of them references: the pull stops
    with one line naming the entity, and writes nothing."""
    bob, done, work = _pull_as_alice_denied(tmp_path, "FIND Person WITH name=Bob",
                                            "RETRIEVE:ENTITY", "FIND Sample", "--depth", "2")
    assert done.returncode == 125
    line = _error_line(done.stderr)
    assert line.startswith(f"entity {bob} is referenced by what was pulled, but the server "
                           "refused it"), line
    assert sorted(p.name for p in work.iterdir()) == ["pw"]


def test_a_model_property_the_user_may_not_read_is_one_line_and_nothing_written(
        tmp_path: Path) -> None:
    """FIND PROPERTY leaves out a Property alice may not read, yet the Person RecordType and
    the records use it: the seed would not load, so the pull says so and writes nothing."""
    email, done, work = _pull_as_alice_denied(tmp_path, "FIND PROPERTY email", "RETRIEVE:*",
                                              "FIND RECORD Person")
    assert done.returncode == 125, done.stderr
    assert _error_line(done.stderr).startswith(
        f"entity {email} is a property or parent of what was pulled, but the server refused")
    assert sorted(p.name for p in work.iterdir()) == ["pw"]
