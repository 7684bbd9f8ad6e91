"""An embedded LinkAhead stand-in for the calls scripts make back to the server, plus mail capture.

The pieces are independent so the CLI, ``serve`` and the pytest plugin can compose them:
:class:`EntityStore` holds the data, :func:`make_backend_app` answers pylib's requests as a WSGI
app, :class:`BackendServer` runs it on 127.0.0.1, :func:`patch_pylinkahead_ini` points a script's
ini at it, and :class:`MailCollector` with :class:`SmtpSink` and :func:`write_sendmail_program`
capture mail.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sss_emulator.backend.app import Authenticate, CallRecorder, make_backend_app
    from sss_emulator.backend.data_files import DataFileError, load_data_file
    from sss_emulator.backend.ini import patch_pylinkahead_ini
    from sss_emulator.backend.mail import Mail, MailCollector, SmtpSink, write_sendmail_program
    from sss_emulator.backend.model import Entity, Principal, UserRecord
    from sss_emulator.backend.query.parser import QuerySyntaxError, parse_query
    from sss_emulator.backend.service import BackendServer
    from sss_emulator.backend.standin import StandIn
    from sss_emulator.backend.store import EntityStore

__all__ = [
    "Authenticate",
    "BackendServer",
    "CallRecorder",
    "DataFileError",
    "Entity",
    "EntityStore",
    "Mail",
    "MailCollector",
    "Principal",
    "QuerySyntaxError",
    "SmtpSink",
    "StandIn",
    "UserRecord",
    "load_data_file",
    "make_backend_app",
    "parse_query",
    "patch_pylinkahead_ini",
    "write_sendmail_program",
]

#: Where each public name lives. They load on first use, so that reaching for the stand-in
#: (``backend.standin``) does not import the app, werkzeug, the store and aiosmtpd with it.
_HOMES = {
    "Authenticate": "sss_emulator.backend.app",
    "CallRecorder": "sss_emulator.backend.app",
    "make_backend_app": "sss_emulator.backend.app",
    "DataFileError": "sss_emulator.backend.data_files",
    "load_data_file": "sss_emulator.backend.data_files",
    "patch_pylinkahead_ini": "sss_emulator.backend.ini",
    "Mail": "sss_emulator.backend.mail",
    "MailCollector": "sss_emulator.backend.mail",
    "SmtpSink": "sss_emulator.backend.mail",
    "write_sendmail_program": "sss_emulator.backend.mail",
    "Entity": "sss_emulator.backend.model",
    "Principal": "sss_emulator.backend.model",
    "UserRecord": "sss_emulator.backend.model",
    "QuerySyntaxError": "sss_emulator.backend.query.parser",
    "parse_query": "sss_emulator.backend.query.parser",
    "BackendServer": "sss_emulator.backend.service",
    "StandIn": "sss_emulator.backend.standin",
    "EntityStore": "sss_emulator.backend.store",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'sss_emulator.backend' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted((*globals(), *__all__))
