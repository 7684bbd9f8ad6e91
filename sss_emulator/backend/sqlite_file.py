"""The SQLite file ``serve`` keeps its entities in, so data survives a restart.

The store stays the source of truth in memory; this mirror writes every change through and
reads everything back once when the store is opened.

The file holds the stand-in's data and its users' password hashes, so one the emulator creates
is the user's alone (0600; SQLite gives its ``-journal`` and ``-wal`` the file's mode). A file the
user made keeps its mode (it is theirs), with a warning when others may read it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import stat
from pathlib import Path

from sss_emulator.backend.model import Entity

__all__ = ["SqliteMirror", "connect_private"]

logger = logging.getLogger("sss_emulator.backend.sqlite_file")
_warned: set[str] = set()


def connect_private(path: Path, *, timeout: float = 5.0) -> sqlite3.Connection:
    """A connection to the SQLite file ``path``, created 0600 if it does not exist yet.

    SQLite itself would create it 0644 (less the umask): readable by every local user, with
    everything the stand-in keeps in it. An existing file keeps its mode; one that group or
    others may read is named once in a warning.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        _warn_if_readable(path)
    except OSError:
        pass  # sqlite3 says what is wrong with the path, in the caller's words
    else:
        os.close(fd)
    return sqlite3.connect(path, check_same_thread=False, timeout=timeout)


def _warn_if_readable(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    key = str(path.resolve())
    if stat.S_ISREG(mode) and mode & 0o077 and key not in _warned:
        _warned.add(key)
        logger.warning("%s may be read by other users (mode %s): it holds the stand-in's data "
                       "and password hashes; run chmod 600 %s.", path,
                       stat.filemode(mode), path)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS entities(id INTEGER PRIMARY KEY, doc TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS blobs(path TEXT PRIMARY KEY, data BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS history(id INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " doc TEXT NOT NULL, PRIMARY KEY(id, seq));"
)


class SqliteMirror:
    """Write-through copy of a store's entities, file contents and next id."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = connect_private(path)
        self._db.executescript(_SCHEMA)

    def read(self) -> tuple[list[Entity], dict[str, bytes], int]:
        """Everything stored: entities by id order, blobs by path, and the saved next id (or 0)."""
        entities = [
            Entity.from_json(json.loads(doc))
            for (doc,) in self._db.execute("SELECT doc FROM entities ORDER BY id")
        ]
        blobs = {p: bytes(d) for p, d in self._db.execute("SELECT path, data FROM blobs")}
        row = self._db.execute("SELECT value FROM meta WHERE key='next_id'").fetchone()
        return entities, blobs, int(row[0]) if row else 0

    def read_history(self) -> list[Entity]:
        """Older versions of updated entities, by id and then oldest first."""
        return [
            Entity.from_json(json.loads(doc))
            for (doc,) in self._db.execute("SELECT doc FROM history ORDER BY id, seq")
        ]

    def put_history(self, entity: Entity) -> None:
        """Keep a version an update replaced."""
        seq = entity.version.seq if entity.version is not None else 1
        self._db.execute(
            "INSERT OR REPLACE INTO history(id, seq, doc) VALUES (?, ?, ?)",
            (entity.id, seq, json.dumps(entity.to_json())),
        )

    def put_entity(self, entity: Entity) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO entities(id, doc) VALUES (?, ?)",
            (entity.id, json.dumps(entity.to_json())),
        )

    def delete_entity(self, entity_id: int) -> None:
        self._db.execute("DELETE FROM entities WHERE id=?", (entity_id,))
        self._db.execute("DELETE FROM history WHERE id=?", (entity_id,))

    def put_blob(self, path: str, data: bytes) -> None:
        self._db.execute("INSERT OR REPLACE INTO blobs(path, data) VALUES (?, ?)", (path, data))

    def delete_blob(self, path: str) -> None:
        self._db.execute("DELETE FROM blobs WHERE path=?", (path,))

    def commit(self, next_id: int) -> None:
        """End one store transaction: save the id counter and make it all durable."""
        self._db.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('next_id', ?)", (next_id,)
        )
        self._db.commit()

    def rollback(self) -> None:
        """Take back what this store transaction wrote (its commit failed, or a step before).
        A rollback that fails too (the connection is gone) leaves the file at its last commit,
        which is where SQLite's journal puts it back on the next open."""
        with contextlib.suppress(sqlite3.Error):
            self._db.rollback()

    def close(self) -> None:
        self._db.close()
