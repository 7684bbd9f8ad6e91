"""An embedded LinkAhead stand-in for the calls scripts make back to the server, plus mail capture.

The pieces are independent so the CLI, ``serve`` and the pytest plugin can compose them:
:class:`EntityStore` holds the data, :func:`make_backend_app` answers pylib's requests as a WSGI
app, :class:`BackendServer` runs it on 127.0.0.1, :func:`patch_pylinkahead_ini` points a script's
ini at it, and :class:`MailCollector` with :class:`SmtpSink` and :func:`write_sendmail_program`
capture mail.
"""

from __future__ import annotations

from .app import Authenticate, CallRecorder, make_backend_app
from .data_files import DataFileError, load_data_file
from .ini import patch_pylinkahead_ini
from .mail import Mail, MailCollector, SmtpSink, write_sendmail_program
from .model import Entity, Principal
from .query import QuerySyntaxError, parse_query
from .service import BackendServer
from .session import StandIn
from .store import EntityStore

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
    "load_data_file",
    "make_backend_app",
    "parse_query",
    "patch_pylinkahead_ini",
    "write_sendmail_program",
]
