"""Connects a run to a LinkAhead server its script can call back: the embedded stand-in, or a
real server given by URL.

A script finds "its" server in ``$HOME/.pylinkahead.ini``; this hook rewrites that file in the
run's copy of the home skeleton (the user's skeleton is never touched), puts the mail-capturing
``sendmail`` on ``PATH``, and adds what the script did on the server (calls, changes, mails) to
the outcome.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sss_emulator import decisions
from sss_emulator.connect.accounts import access_control
from sss_emulator.connect.clients import ClientInfo, detect_client, script_python
from sss_emulator.core.hooks import RunContext
from sss_emulator.core.outcome import RunOutcome
from sss_emulator.core.permissions import UsersConfig
from sss_emulator.core.roots import owner_tag, standin_root
from sss_emulator.core.tokens import TokenAuthority, TokenInfo
from sss_emulator.errors import ConfigError
from sss_emulator.logs import Logger

__all__ = ("INI_NAME", "StandInHook", "point_run_at", "read_ini")

logger = Logger("sss_emulator.connect.standin")

#: The file pylib reads in HOME (the working dir is HOME, so ``./.pylinkahead.ini`` wins first).
INI_NAME = ".pylinkahead.ini"
#: The file the old ``caosdb`` package reads in HOME.
PYCAOSDB_INI_NAME = ".pycaosdb.ini"

_PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                    "ALL_PROXY")


def read_ini(context: RunContext) -> tuple[Path, str | None]:
    """The run's ini and its text as the run has it so far (None: there is none)."""
    return context.workspace.home / INI_NAME, context.workspace.read_home(INI_NAME)


def point_run_at(context: RunContext, stand_in: Any, url: str | None = None,
                 cacert: str | None = None) -> bool:
    """Make the run's ini name ``url`` (default: the stand-in's own) and its mail capture.

    ``[Email]`` is written only when the script's client accepts it (see
    :mod:`sss_emulator.connect.clients`); mail is captured through ``[Misc] sendmail`` either
    way. A script of the old ``caosdb`` package gets the same in ``.pycaosdb.ini``. A skeleton
    ini that does not parse is left as it is: pylib fails on it as it would on the server, and
    the script's error says why. Returns whether ``[Email]`` was written.
    """
    client = _client_of(context)
    email = (client.accepts_email_section if client is not None
             else decisions.EMAIL_SECTION_WHEN_CLIENT_UNKNOWN)
    path, existing = read_ini(context)
    ws = context.workspace
    try:
        ws.place(INI_NAME, _ini_text(stand_in, existing, url, cacert, email))
        if client is not None and client.reads_pycaosdb_ini:
            old = ws.read_home(PYCAOSDB_INI_NAME)
            base = old if old is not None else existing
            ws.place(PYCAOSDB_INI_NAME, _ini_text(stand_in, base, url, cacert, False))
    except ValueError as exc:
        logger.warning("%s left unchanged: %s", path.name, exc)
    drop_tls_overrides(context.env)
    # pylib sends even 127.0.0.1 requests through a configured proxy, which cannot reach
    # the stand-in; the script's own proxy settings serve no purpose against it.
    for name in _PROXY_VARIABLES:
        context.env.pop(name, None)
    context.env.update(stand_in.run_env)  # where the shared sendmail spools
    path_var = context.env.get("PATH", "")
    context.env["PATH"] = f"{stand_in.bin_dir}:{path_var}" if path_var else str(stand_in.bin_dir)
    return email


def drop_tls_overrides(env: dict[str, str]) -> None:
    """requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` override the ini's ``cacert`` and
    even ``ssl_insecure``; a server's process would not carry the caller's, so scripts do not
    get them (``decisions.CA_BUNDLE_ENV``)."""
    for name in decisions.CA_BUNDLE_ENV:
        env.pop(name, None)


def _client_of(context: RunContext) -> ClientInfo | None:
    python = script_python(context.script.path, context.env)
    if python is None:
        return None
    return detect_client(python, context.env, str(context.workspace.home))


#: Patched ini files per stand-in, encoded: every run of one skeleton gets the same bytes. Weak
#: keys, so a closed emulator's stand-in (and its store) is not kept alive by the cache.
_INI_CACHE: weakref.WeakKeyDictionary[
    Any, dict[tuple[str | None, str | None, str | None, bool], bytes]] = (
        weakref.WeakKeyDictionary())


def _ini_text(stand_in: Any, existing: str | None, url: str | None, cacert: str | None,
              email: bool) -> bytes:
    texts = _INI_CACHE.setdefault(stand_in, {})
    key = (existing, url, cacert, email)
    data = texts.get(key)
    if data is None:
        text = stand_in.ini_text(existing, url=url, cacert=cacert, email=email)
        data = texts[key] = text.encode("utf-8")
    return data


class StandInHook:
    """Starts the stand-in on the first run and keeps it until :meth:`close`.

    Data files are loaded once, when it starts; each run sees the data as earlier runs left it,
    and its outcome lists only its own calls, changes and mails (runs of one emulator in parallel
    share one stand-in and may see each other's calls).
    """

    def __init__(
        self,
        authority: TokenAuthority,
        *,
        data_files: Sequence[str | os.PathLike[str]] = (),
        context_root: str = "",
        sqlite_path: Path | None = None,
        users: UsersConfig | None = None,
        file_root: Path | None = None,
    ) -> None:
        self.authority = authority
        self.users = users
        #: Where the stand-in keeps stored files on disk (the run's caosroot, with --mounts).
        self.file_root = file_root
        self.data_files = tuple(Path(p) for p in data_files)
        self.context_root = context_root
        self.sqlite_path = sqlite_path
        self._lock = threading.Lock()
        self._stand_in: Any = None
        self._email: dict[int, bool] = {}
        #: The users, roles and permissions the stand-in checks, once a script's first request
        #: (or ``sqlite_path``) made them; :func:`~sss_emulator.connect.accounts.live_users`
        #: reads them for the emulator's scripting check, the users file until then.
        self.access: Any = None

    def _make_access(self) -> Any:
        self.access = access_control(self.users or UsersConfig(), sqlite_path=self.sqlite_path)
        return self.access

    def _authenticate(self, token: str) -> TokenInfo | None:
        return self.authority.accept(token)  # a session's answer renews it, as the server's

    @property
    def stand_in(self) -> Any:
        """The running stand-in (started on first use)."""
        with self._lock:
            if self._stand_in is None:
                from sss_emulator.backend.standin import StandIn

                # only what this stand-in uses is imported: a run without data files or a
                # SQLite file loads neither the store nor the data-file parsers here
                bad_data: tuple[type[Exception], ...] = ()
                if self.data_files:
                    from sss_emulator.backend.data_files import DataFileError

                    bad_data = (DataFileError,)
                try:
                    store = None
                    if self.sqlite_path:
                        from sss_emulator.backend.store import EntityStore

                        store = EntityStore(sqlite_path=self.sqlite_path)
                    # a state kept in SQLite is read now (it may differ from the users file);
                    # one the users file starts is made when a request first needs it
                    access = self._make_access() if self.sqlite_path else self._make_access
                    standin_root()  # what SIGKILLed emulators' stand-ins left there goes
                    stand_in = StandIn(authenticate=self._authenticate, data_files=self.data_files,
                                       store=store, context_root=self.context_root,
                                       access=access, file_root=self.file_root,
                                       owner=owner_tag())
                except bad_data as exc:
                    raise ConfigError(str(exc)) from exc
                if self.file_root is not None:
                    stand_in.store.keep_files_in(self.file_root)
                self._stand_in = stand_in.start()
                logger.debug("stand-in started at %s", stand_in.url)
            return self._stand_in

    def before_run(self, context: RunContext) -> None:
        stand_in = self.stand_in
        stand_in.reset()
        email = point_run_at(context, stand_in)
        with self._lock:
            self._email[id(context)] = email

    def after_run(self, context: RunContext, outcome: RunOutcome) -> RunOutcome:
        stand_in = self.stand_in
        results = stand_in.results()
        with self._lock:
            email = self._email.pop(id(context), True)
        return dataclasses.replace(
            outcome,
            server_calls=tuple(results["server_calls"]),
            changes=results["changes"],
            mails=tuple(results["mails"]),
            notes=(*outcome.notes, _changed_note(stand_in.url, email)),
        )

    def close(self) -> None:
        with self._lock:
            if self._stand_in is not None:
                self._stand_in.stop()
                self._stand_in = None
            if self.access is not None:
                self.access.close()


def _changed_note(url: str, email: bool) -> str:
    mail = ("[Email] at a local SMTP capture and [Misc] sendmail at a capturing program" if email
            else "[Misc] sendmail at a capturing program (no [Email]: the script's linkahead "
            "client is older than 0.21 or unknown, and its ini schema would refuse one)")
    return (f"the run's {INI_NAME} (a copy; the skeleton is unchanged) pointed [Connection] url at "
            f"{url}, {mail}")
