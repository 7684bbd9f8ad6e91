"""Fixtures for the HTTP server tests: an app over the sample scripts plus per-test scripts."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from werkzeug.test import Client, TestResponse

from sss_emulator.config import UserEntry, UsersConfig
from sss_emulator.invocation import Emulator
from sss_emulator.serve.app import ServerApp, ServerConfig, make_app

ADMIN_PW = "admin-pw"
ALICE_PW = "alice-pw"

USERS = UsersConfig(
    users={
        "admin": UserEntry("admin", ADMIN_PW, ("administration",)),
        "alice": UserEntry("alice", ALICE_PW, ("team",)),
    },
    role_permissions={
        "team": ("SCRIPTING:EXECUTE:minimal.bash", "SCRIPTING:EXECUTE:print_file.bash"),
        "anonymous": ("SCRIPTING:EXECUTE:minimal.bash",),
    },
)


def multipart(parts: Sequence[tuple[str, str | bytes, str | None]],
              boundary: str | None = None) -> tuple[bytes, str]:
    """A multipart body with parts in exactly this order: ``(name, value, filename|None)``."""
    boundary = boundary or uuid.uuid4().hex
    chunks: list[bytes] = []
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        data = value.encode() if isinstance(value, str) else value
        chunks.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
                      + data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture
def make_app_for(tmp_path: Path, bin_dir: Path, samples: Path) -> Callable[..., ServerApp]:
    """Build a server app over ``bin_dir`` and the sample scripts, with private roots."""

    def make(*, anonymous: bool = False, config: dict[str, Any] | None = None,
             **emulator_kwargs: Any) -> ServerApp:
        kwargs: dict[str, Any] = {
            "bin_dirs": [bin_dir, samples],
            "work_root": tmp_path / "work",
            "shared_root": tmp_path / "shared",
            "timeout": 20,
            "users": USERS,
            "anonymous": anonymous,
            "stand_in": False,  # the server mounts the stand-in itself
        }
        kwargs.update(emulator_kwargs)
        return make_app(ServerConfig(Emulator(**kwargs), **(config or {})))

    return make


@pytest.fixture
def app(make_app_for: Callable[..., ServerApp]) -> ServerApp:
    return make_app_for()


def leftovers(root: Path) -> list[str]:
    """Anything a request left in the work root (upload dirs, working dirs)."""
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def login(app: ServerApp, user: str = "admin", password: str = ADMIN_PW) -> Client:
    """A test client holding ``user``'s session cookie."""
    client = Client(app)
    response = client.post("/login", data={"username": user, "password": password})
    assert response.status_code == 200, response.get_data(as_text=True)
    return client


def xml(response: TestResponse) -> etree._Element:
    return etree.fromstring(response.get_data())


def error_of(response: TestResponse) -> str:
    """The description of the response's one ``Error`` element."""
    errors = xml(response).findall("Error")
    assert len(errors) == 1, response.get_data(as_text=True)
    return str(errors[0].get("description"))
