"""A write that fails underneath changes nothing and is answered with the server's error document.

Issue 21: with ``sss-emulate serve --db FILE``, a write whose SQLite file had been deleted while
serving, or that could not grow on a full disk, was answered with werkzeug's HTML 500 page, and
the refused entity stayed visible to queries (in memory only; gone after a restart). Each test
starts the real ``serve`` process, talks to its stand-in with the real pylib logged in as admin,
and breaks the disk underneath it the way it breaks for users: the file deleted, a full tmpfs,
a file size limit (what a full quota does to the process). Acknowledged writes must survive a
SIGKILL.
"""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import linkahead
import pytest
from backend_helpers import BackendRun
from linkahead.exceptions import HTTPServerError
from serve_support import SERVE, banner_url

from sss_emulator.backend import EntityStore
from sss_emulator.backend.model import Entity, ParentRef, PropertyValue
from sss_emulator.backend.store import StoreWriteError

PASSWORD = "s3cret-write-failures"


@contextmanager
def _serving(db: Path, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """``sss-emulate serve --db db`` on an ephemeral port, pylib logged in to it as admin."""
    env = {**os.environ, "SSS_ADMIN_PASSWORD": PASSWORD}
    proc = subprocess.Popen(
        [*SERVE, "--port", "0", "--db", str(db), "--quiet", "--bin-dir", str(tmp_path),
         "--work-root", str(tmp_path / "work"), "--shared-root", str(tmp_path / "shared")],
        stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        linkahead.configure_connection(url=banner_url(proc), username="admin", password=PASSWORD,
                                       password_method="plain", timeout=20)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)


def _kill_hard(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def _names(query: str = "FIND Thing") -> list[str]:
    return sorted(str(e.name) for e in linkahead.execute_query(query))


def _thing(name: str, description: str | None = None) -> linkahead.Record:
    return linkahead.Record(name=name, description=description).add_parent("Thing")


def _refused(action: Callable[[], object]) -> str:
    """Run a write that must fail underneath; return its ``<Error>`` description, having
    checked that the answer is the server's error document and not werkzeug's HTML page."""
    with pytest.raises(HTTPServerError) as info:
        action()
    description = info.value.msg
    # pylib reads /Response/Error/@description; from anything else (an HTML page) it keeps
    # the raw body as bytes
    assert isinstance(description, str), description
    assert "Nothing of this request was stored" in description and "\n" not in description
    return description


def _seed() -> linkahead.Record:
    linkahead.RecordType(name="Thing").insert()
    return _thing("kept").insert()


def test_a_deleted_database_file_refuses_writes_and_keeps_nothing(tmp_path: Path) -> None:
    db = tmp_path / "store.sqlite"
    with _serving(db, tmp_path) as proc:
        kept = _seed()
        records = linkahead.Info()._stats.records
        db.unlink()
        text = _refused(lambda: _thing("refused").insert())
        assert f"database file {db}" in text and "deleted or moved" in text
        assert _names() == ["kept"]
        assert linkahead.execute_query("COUNT Thing") == 1
        assert linkahead.Info()._stats.records == records
        kept.description = "changed"
        _refused(kept.update)
        again = linkahead.Record(id=kept.id).retrieve()
        assert again.description is None and again.version.id == kept.version.id
        _refused(lambda: linkahead.Record(id=kept.id).delete())
        assert _names() == ["kept"]
        assert proc.poll() is None  # still serving reads
    assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")


@contextmanager
def _small_tmpfs(folder: Path, size: str) -> Iterator[Path]:
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs (a disk that fills up) needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                              str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` to the last byte; return the filler to free it."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 1):
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


BIG = "x" * 200_000  # more than the pages a full disk has left for the database to grow


def _refused_then_kept_after_a_restart(db: Path, tmp_path: Path,
                                       break_disk: Callable[[subprocess.Popen[str]], str],
                                       mend_disk: Callable[[subprocess.Popen[str]], None],
                                       ) -> None:
    with _serving(db, tmp_path) as proc:
        kept = _seed()
        needle = break_disk(proc)
        text = _refused(lambda: _thing("refused", BIG).insert())
        assert needle in text and f"database file {db}" in text
        assert _names() == ["kept"]
        kept.description = BIG
        _refused(kept.update)
        assert linkahead.Record(id=kept.id).retrieve().description is None
        mend_disk(proc)
        _thing("after", BIG).insert()
        assert _names() == ["after", "kept"]
        _kill_hard(proc)  # acknowledged writes are durable: they survive a SIGKILL
    with _serving(db, tmp_path):
        assert _names() == ["after", "kept"]
        assert linkahead.execute_query("FIND Thing WITH name=after", unique=True).description \
            == BIG


def test_a_full_disk_refuses_the_write_and_keeps_nothing(tmp_path: Path) -> None:
    with _small_tmpfs(tmp_path / "disk", "2m") as disk:
        fillers: list[Path] = []

        def fill(_proc: subprocess.Popen[str]) -> str:
            fillers.append(_fill(disk))
            return "database or disk is full"

        _refused_then_kept_after_a_restart(disk / "store.sqlite", tmp_path, fill,
                                           lambda _proc: fillers.pop().unlink())


@pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs Linux prlimit")
def test_a_file_size_limit_refuses_the_write_and_keeps_nothing(tmp_path: Path) -> None:
    """A file that may not grow (RLIMIT_FSIZE, what a user's quota does): no root needed."""
    db = tmp_path / "store.sqlite"
    unlimited = resource.RLIM_INFINITY

    def limit(proc: subprocess.Popen[str]) -> str:
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (db.stat().st_size, unlimited))
        return "disk I/O error"

    def unlimit(proc: subprocess.Popen[str]) -> None:
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (unlimited, unlimited))

    _refused_then_kept_after_a_restart(db, tmp_path, limit, unlimit)


# --- the store itself: every change of a failed write is taken back ---------------------------
def _state(store: EntityStore) -> tuple[object, ...]:
    """Everything a later request could observe of a store."""
    entities = sorted((e.id, e.to_json().__repr__()) for e in store)
    history = sorted((i, len(store.versions_of(i))) for i in store.all_ids())
    indexes = (store.ids_with_role("Record"), store.ids_with_property("price"),
               store.ids_with_property_value("price", [("n", 5.0)]), store.updated_ids())
    return (entities, history, indexes, store.read_blob("/a.txt"), store.name_keys(),
            {k: list(v) for k, v in store.changes.items()}, store._next_id)


def test_a_store_whose_file_was_deleted_takes_back_every_failed_write(tmp_path: Path) -> None:
    db = tmp_path / "store.sqlite"
    store = EntityStore(sqlite_path=db)
    (thing,), _ = store.insert([Entity(id=None, role="RecordType", name="Thing")])
    store.insert([Entity(id=None, role="Property", name="price", datatype="DOUBLE"),
                  Entity(id=None, role="Property", name="ref", datatype="Thing")])
    (rec,), _ = store.insert([Entity(id=None, role="Record", name="r", parents=[
        ParentRef(None, "Thing")], properties=[PropertyValue(None, "price", None, "5")])])
    (file,), _ = store.insert([Entity(id=None, role="File", path="/a.txt", upload=b"a")])
    before = _state(store)
    db.unlink()
    new = Entity(id=None, role="Record", name="refused", parents=[ParentRef(None, "Thing")])
    renamed = thing.clone()
    renamed.name = "Renamed"  # renames the datatype of 'ref' too
    changed = rec.clone()
    changed.properties[0].value = "6"
    attempts: list[Callable[[], object]] = [
        lambda: store.insert([new]),
        lambda: store.update([renamed, changed]),
        lambda: store.delete([str(file.id), str(rec.id)]),
        lambda: store.add_blob("/b.txt", b"b"),
    ]
    for attempt in attempts:
        with pytest.raises(Exception) as info:
            attempt()
        assert _state(store) == before, attempt
        assert isinstance(info.value, StoreWriteError)
        assert "deleted or moved" in str(info.value)
    assert store.find_by_name("ref")[0].datatype == "Thing"
    store.close()


def test_a_full_file_store_takes_back_the_write(tmp_path: Path) -> None:
    """The copy of a file in the scripts' caosroot cannot be written: nothing is kept, and a
    copy the write had begun to overwrite gets its old contents back."""
    store = EntityStore()
    with _small_tmpfs(tmp_path / "caosroot", "256k") as caosroot:
        store.keep_files_in(caosroot)
        (file,), _ = store.insert([Entity(id=None, role="File", path="/a.txt", upload=b"a" * 1000)])
        store.insert([Entity(id=None, role="Property", name="price", datatype="DOUBLE")])
        before = _state(store)
        too_big = b"b" * 400_000
        with pytest.raises(StoreWriteError, match="disk is full"):
            store.insert([Entity(id=None, role="File", path="/b.txt", upload=too_big)])
        assert _state(store) == before
        assert sorted(p.name for p in caosroot.iterdir()) == ["a.txt"]
        replaced = file.clone()
        replaced.upload = too_big
        with pytest.raises(StoreWriteError):
            store.update([replaced])
        assert _state(store) == before
        assert (caosroot / "a.txt").read_bytes() == b"a" * 1000


def test_any_failure_is_the_servers_error_document_and_stores_nothing(
    backend_run: BackendRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure that is no disk's (a bug) in the middle of a write: the same document, and the
    half-made write is taken back."""
    store = backend_run.store
    count = len(store)

    def broken(entity: Entity) -> None:
        raise RuntimeError("broken\nin two lines")

    monkeypatch.setattr(store, "_persist", broken)
    rec = linkahead.Record(name="Half").add_parent("Manufacturer")
    with pytest.raises(HTTPServerError) as info:
        rec.insert()
    assert isinstance(info.value.msg, str)
    assert "RuntimeError: broken in two lines" in info.value.msg
    assert "nothing of it was stored" in info.value.msg
    monkeypatch.undo()
    assert len(store) == count and store.find_by_name("Half") == []
    assert linkahead.execute_query("COUNT RECORD WITH name=Half") == 0
    assert store.changes["inserted"] == []
