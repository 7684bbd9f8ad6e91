"""The ``sss_backend`` fixture: seed the LinkAhead stand-in a test's scripts call back, and
inspect what they did to it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

__all__ = ("SssBackend", "sss_backend")


class SssBackend:
    """The stand-in of one emulator: its data, and the calls, changes and mails of the last run.

    >>> def test_register(sss, sss_backend):                       # doctest: +SKIP
    ...     sss_backend.load("model.yml")
    ...     sss_backend.add_records([{"name": "Fender", "parents": ["Manufacturer"]}])
    ...     res = sss.run_server_side_script("register_guitar.py", files={"-p0": "form.json"})
    ...     assert [e["name"] for e in sss_backend.changes["inserted"]] == ["Telecaster"]
    ...     assert sss_backend.query("FIND Guitar")[0].name == "Telecaster"
    """

    def __init__(self, stand_in: Any, scratch: Path) -> None:
        self._stand_in = stand_in
        self._scratch = scratch
        self._count = 0

    @property
    def store(self) -> Any:
        """The :class:`~sss_emulator.backend.EntityStore` scripts read and write."""
        return self._stand_in.store

    @property
    def url(self) -> str:
        """Where the stand-in listens (the URL written into each run's ``.pylinkahead.ini``)."""
        return str(self._stand_in.url)

    def load(self, *paths: str | Path) -> None:
        """Load data files: server XML, a caosadvancedtools ``model.yml``, a list of records."""
        for path in paths:
            self.store.load(Path(path))
        self.store.reset_changes()

    def _load_text(self, suffix: str, text: str) -> None:
        self._scratch.mkdir(parents=True, exist_ok=True)
        self._count += 1
        path = self._scratch / f"seed-{self._count}{suffix}"
        path.write_text(text, encoding="utf-8")
        self.load(path)

    def add_model(self, model: Mapping[str, Any]) -> None:
        """RecordTypes and Properties in the ``model.yml`` format, given as a mapping."""
        self._load_text(".yml", yaml.safe_dump(dict(model), sort_keys=False))

    def add_records(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Records as in a records file: ``name``, ``parents``, ``properties``, …"""
        self._load_text(".json", json.dumps([dict(r) for r in records], default=str))

    def query(self, text: str) -> list[Any]:
        """The entities a ``FIND`` query matches, evaluated as the stand-in answers scripts."""
        from sss_emulator.backend import parse_query
        from sss_emulator.backend.query.evaluate import evaluate

        ids = evaluate(parse_query(text), self.store)
        return [self.store.get(entity_id) for entity_id in ids]

    @property
    def access(self) -> Any:
        """The stand-in's users, roles, role permissions and entity ACLs
        (:class:`~sss_emulator.backend.access.AccessControl`)."""
        return self._stand_in.access

    def grant(self, query: str, *permissions: str, role: str | None = None,
              user: str | None = None, realm: str = "PAM", priority: bool = False) -> int:
        """Grant ``permissions`` on every entity ``query`` finds to a role or a user, as its
        owner's ``acl.grant(...); update_acl()`` would; returns how many entities.

        ``sss_backend.grant("FIND Guitar", "UPDATE:*", user="bob", priority=True)``
        """
        return self._add_rule("Grant", query, permissions, role, user, realm, priority)

    def deny(self, query: str, *permissions: str, role: str | None = None,
             user: str | None = None, realm: str = "PAM", priority: bool = False) -> int:
        """Deny ``permissions`` on every entity ``query`` finds (see :meth:`grant`)."""
        return self._add_rule("Deny", query, permissions, role, user, realm, priority)

    def _add_rule(self, kind: str, query: str, permissions: Sequence[str], role: str | None,
                  user: str | None, realm: str, priority: bool) -> int:
        from sss_emulator.backend.model import AclEntry

        if (role is None) == (user is None):
            raise TypeError(f"sss_backend.{kind.lower()}() takes role= or user=, one of them")
        entry = AclEntry(kind, priority, role, user, realm if user else None,  # type: ignore[arg-type]
                         tuple(permissions))
        entities = self.query(query)
        for entity in entities:
            chain = self.store.versions_of(entity.id)
            first = chain[0].version if chain else None
            owner = (first.username, first.realm) if first is not None else None
            self.access.extend_acl(entity.id, owner, [entry])
        return len(entities)

    @property
    def calls(self) -> list[dict[str, Any]]:
        """Requests the last run's script made: ``method``, ``path``, ``query``, ``status``."""
        return list(self._stand_in.recorder.calls)

    @property
    def changes(self) -> dict[str, list[dict[str, Any]]]:
        """What the last run inserted, updated and deleted."""
        return {kind: list(items) for kind, items in self.store.changes.items()}

    @property
    def mails(self) -> Sequence[dict[str, Any]]:
        """Mails the last run sent (sendmail or SMTP), captured, never delivered."""
        return [mail.to_dict() for mail in self._stand_in.collector.mails]


@pytest.fixture
def sss_backend(sss: Any, tmp_path: Path) -> SssBackend:
    """The LinkAhead stand-in of this test's ``sss`` emulator (started on first use)."""
    stand_in = sss.stand_in
    if stand_in is None:
        pytest.fail("sss_backend needs the stand-in, but this emulator runs without it "
                    "(stand_in=False).", pytrace=False)
    return SssBackend(stand_in, tmp_path / "sss-backend-seed")
