"""Fixtures for the backend stand-in tests: a seeded store served to the real pylib."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from backend_helpers import BACKEND_TOKEN, DATA, BackendRun, backend_authenticate

from sss_emulator.backend import BackendServer, CallRecorder, EntityStore, make_backend_app


@pytest.fixture
def backend_store() -> EntityStore:
    """A store seeded with the musical-instrument model and a few records."""
    store = EntityStore()
    store.load(DATA / "model.yml")
    store.load(DATA / "records.yml")
    return store


@pytest.fixture
def backend_run(backend_store: EntityStore, tmp_path: Path) -> Iterator[BackendRun]:
    """The seeded store served on 127.0.0.1; pylib in this process is configured for it."""
    recorder = CallRecorder()
    app = make_backend_app(
        backend_store, authenticate=backend_authenticate, recorder=recorder, file_root=tmp_path
    )
    with BackendServer(app) as srv:
        import linkahead

        linkahead.configure_connection(
            url=srv.url, auth_token=BACKEND_TOKEN, password_method="auth_token", timeout=10
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            yield BackendRun(backend_store, recorder, srv.url)
