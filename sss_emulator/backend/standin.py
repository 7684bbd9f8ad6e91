"""Everything one script run needs from the stand-in, started and stopped together.

The CLI, the pytest plugin and ``serve`` each need the same set: a store seeded from data files,
the app on a port, the SMTP sink, the ``sendmail`` program, and the patched ini. After the run
they need the calls, the changes and the mails. :class:`StandIn` bundles these so each adapter
stays thin.

A run whose script never calls back should not pay for any of it: :meth:`StandIn.start` binds the
two listening sockets (the ini needs their ports) and writes ``sendmail``, and nothing else. The
store, the app and the server are built when a script first connects, on that same socket
(:class:`~sss_emulator.backend.lifecycle.OnFirstConnection`), and the SMTP sink starts on its
first client; until then no werkzeug, aiosmtpd or asyncio is imported. Data files are the
exception: given any, they are loaded when the stand-in is created, so a bad one is reported
before the script runs, not half-way through it.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import threading
from _socket import socket as RawSocket  # not `socket`: see httpd.bind
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sss_emulator import httpd
from sss_emulator.backend.ini import patch_pylinkahead_ini
from sss_emulator.backend.lifecycle import OnFirstConnection, Service
from sss_emulator.backend.mail import (
    MAIL_SPOOL_ENV,
    MailCollector,
    SmtpSink,
    write_sendmail_program,
)
from sss_emulator.logs import Logger
from sss_emulator.wire import context_root_prefix

if TYPE_CHECKING:
    from sss_emulator.backend.access import AccessControl
    from sss_emulator.backend.app import Authenticate, CallRecorder
    from sss_emulator.backend.model import UserRecord
    from sss_emulator.backend.service import WsgiApp
    from sss_emulator.backend.store import EntityStore

__all__ = ["StandIn"]

_log = Logger("sss_emulator.backend.standin")


def _shared_root() -> Path | str:
    """``<tmp>/sss-emulator-<uid>/standin``, the home of the shared ``sendmail``, if it is this
    user's alone (owned by them, writable by nobody else); otherwise why not, which sends the
    caller back to a private temporary folder. Scripts run the program in there, so nobody else
    may write it.

    The same folder as ``sss_emulator.core.roots.standin_root``, which the emulator sweeps of
    folders whose owner died (this layer may not import the core, so the path is written twice).
    """
    uid = os.getuid() if hasattr(os, "getuid") else -1
    root = Path(tempfile.gettempdir()) / f"sss-emulator-{uid}"
    try:
        for folder in (root, root / "standin"):
            folder.mkdir(mode=0o700, exist_ok=True)
            info = os.lstat(folder)
            if (not stat.S_ISDIR(info.st_mode) or info.st_uid != uid
                    or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
                return f"{folder} is not this user's alone"
    except OSError as exc:
        return f"cannot use {exc.filename or root}: {exc.strerror or exc}"
    return root / "standin"


_noted_fallback = threading.Event()


def _note_fallback(reason: str, folder: str) -> None:
    """One line, once per process: the stand-in's folder is a plain temporary one, which no
    start sweeps, so a killed emulator leaves it (and its captured mails) behind."""
    if not _noted_fallback.is_set():
        _noted_fallback.set()
        _log.warning("note: %s; the stand-in's mail spools go to %s instead, left behind if "
                     "the emulator is killed", reason, os.path.dirname(folder))


class StandIn(Service):
    """A running stand-in with mail capture, for one run or a whole ``serve`` session.

    Args:
        authenticate: maps a ``SessionToken`` cookie value to a principal, or None (401).
        state_dir: where the mail spool and the ``sendmail`` program go (``state_dir/bin``);
            None makes a private temporary folder that :meth:`stop` removes.
        data_files: files to seed the store with, in order (``DataFileError`` on a bad one);
            skipped for a SQLite-backed store that already holds entities (seeded earlier).
        store: an existing store (e.g. SQLite-backed for ``serve``); a new in-memory one if None.
        file_root: a directory ``GET FileSystem/<path>`` also serves from.
        context_root: path prefix for the app (the URL in the ini includes it).
        listen: serve the app on a port of its own; False when the caller mounts ``app`` in its
            own server (``sss-emulate serve``) and only wants the store and the mail capture.
        users: users ``GET User/<realm>/<name>`` knows besides the caller (e-mail, roles);
            ignored when ``access`` is given.
        access: the users, roles and permissions requests are checked against (shared with
            whoever checks scripting permissions), or what makes them on first use (a run
            whose script never calls back loads no model); by default one made from ``users``.
        anonymous: a request without a token acts as the anonymous user instead of 401.
        owner: ``<pid>.<start time>`` of the process the stand-in's folder belongs to
            (``sss_emulator.core.roots.owner_tag()``); it is in the folder's name, so when this
            process is killed before :meth:`stop`, the next start sees the owner is gone and
            removes the folder. The default, ``<pid>.0``, is told apart by the pid alone.

    Example::

        with StandIn(authenticate=tokens.lookup, state_dir=tmp, data_files=["model.yml"]) as si:
            home_ini.write_text(si.ini_text(home_ini.read_text() if home_ini.exists() else None))
            run_the_script(env={"PATH": f"{si.bin_dir}:{os.environ['PATH']}"})
            outcome = si.results()
    """

    def __init__(
        self,
        *,
        authenticate: Authenticate,
        state_dir: str | Path | None = None,
        data_files: Sequence[str | Path] = (),
        store: EntityStore | None = None,
        file_root: Path | None = None,
        context_root: str = "",
        listen: bool = True,
        users: Sequence[UserRecord] = (),
        owner: str | None = None,
        access: AccessControl | Callable[[], AccessControl] | None = None,
        anonymous: bool = False,
    ) -> None:
        self.listen = listen
        self._access = access
        self._anonymous = anonymous
        self._authenticate = authenticate
        self._file_root = file_root
        self._users = tuple(users)
        self._lock = threading.RLock()  # the first client builds in another thread
        self._store = store
        self._recorder: CallRecorder | None = None
        self._app: WsgiApp | None = None
        if data_files:
            self._seed(self.store, data_files)
        self._stack = ExitStack()
        shared = _shared_root() if state_dir is None else None
        if isinstance(shared, Path):
            # One sendmail for all stand-ins of this user, reading the spool from the run's
            # environment; the spool is made only when mail arrives. A run that sends none
            # creates no directory here (creating and removing directories is what costs).
            owner = owner or f"{os.getpid()}.0"
            self.state_dir = shared / f"standin-{owner}-{os.urandom(6).hex()}"
            self._stack.callback(shutil.rmtree, self.state_dir, ignore_errors=True)
            self.bin_dir = shared / "bin"
        else:
            if state_dir is None:
                owned = tempfile.TemporaryDirectory(prefix="sss-standin-")
                self._stack.callback(owned.cleanup)
                state_dir = owned.name
                _note_fallback(str(shared), owned.name)
            self.state_dir = Path(state_dir)
            self.bin_dir = self.state_dir / "bin"
        self.collector = MailCollector(self.state_dir / "mail")
        self.context_root = context_root_prefix(context_root)
        self.sendmail = write_sendmail_program(
            self.bin_dir, None if isinstance(shared, Path) else self.collector.spool_dir)
        self._base_url: str | None = None
        self._server: httpd.ServerHandle | None = None
        self._sink = SmtpSink(self.collector)  # started by the waiter, on its first client

    @staticmethod
    def _seed(store: EntityStore, data_files: Sequence[str | Path]) -> None:
        if store.sqlite_path is not None and len(store):
            # a persistent store was seeded when it was created; loading again would duplicate
            _log.info("%s already holds %d entities; data files not loaded again",
                      store.sqlite_path, len(store))
        else:
            for path in data_files:
                store.load(path)
        store.reset_changes()

    @property
    def store(self) -> EntityStore:
        """The entities scripts see (an empty in-memory store is made on first use)."""
        with self._lock:
            if self._store is None:
                from sss_emulator.backend.store import EntityStore

                self._store = EntityStore()
            return self._store

    @property
    def recorder(self) -> CallRecorder:
        """The requests scripts made."""
        with self._lock:
            if self._recorder is None:
                from sss_emulator.backend.app import CallRecorder

                self._recorder = CallRecorder()
            return self._recorder

    @property
    def access(self) -> AccessControl:
        """The users, roles, role permissions and entity ACLs this stand-in checks."""
        with self._lock:
            if callable(self._access):
                self._access = self._access()
            elif self._access is None:
                from sss_emulator.backend.access import AccessControl

                self._access = AccessControl(self._users)
            return self._access

    @property
    def app(self) -> WsgiApp:
        """The WSGI app answering pylib's requests (built on first use)."""
        with self._lock:
            if self._app is None:
                from sss_emulator.backend.app import make_backend_app

                self._app = make_backend_app(
                    self.store,
                    authenticate=self._authenticate,
                    recorder=self.recorder,
                    file_root=self._file_root,
                    context_root=self.context_root,
                    access=self.access,
                    anonymous=self._anonymous,
                )
            return self._app

    @property
    def url(self) -> str:
        """The URL scripts use, context root included."""
        if self._base_url is None:
            raise RuntimeError("the stand-in is not listening; call start() or use `with`.")
        return self._base_url + self.context_root

    @property
    def run_env(self) -> dict[str, str]:
        """Variables a run needs besides ``bin_dir`` on ``PATH``: where ``sendmail`` spools."""
        return {MAIL_SPOOL_ENV: str(self.collector.spool_dir)}

    @property
    def smtp(self) -> tuple[str, int]:
        """``(host, port)`` of the SMTP sink."""
        return self._sink.host, self._sink.port

    def ini_text(self, existing_text: str | None, *, url: str | None = None,
                 cacert: str | None = None, email: bool = True) -> str:
        """The user's ini (or none) pointed at this stand-in (or ``url``, where the caller mounts
        ``app``) and its mail capture; ``email=False`` leaves out ``[Email]`` (for clients whose
        ini schema refuses it), so only ``[Misc] sendmail`` captures mail."""
        return patch_pylinkahead_ini(
            existing_text, url or self.url, cacert=cacert, sendmail=str(self.sendmail),
            smtp=self.smtp if email else None,
        )

    def results(self) -> dict[str, Any]:
        """``server_calls``, ``changes`` and ``mails`` as plain data (``--format json``).

        Nothing is built for it: a stand-in no script reached has no calls and no changes.
        """
        with self._lock:
            recorder, store = self._recorder, self._store
        return {
            "server_calls": recorder.calls if recorder is not None else [],
            "changes": ({k: list(v) for k, v in store.changes.items()} if store is not None
                        else {"inserted": [], "updated": [], "deleted": []}),
            "mails": [m.to_dict() for m in self.collector.mails],
        }

    def reset(self) -> None:
        """Forget calls, changes and mails (not the data), e.g. between two runs in ``serve``."""
        with self._lock:
            if self._recorder is not None:
                self._recorder.clear()
            if self._store is not None:
                self._store.reset_changes()
        self.collector.clear()

    def start(self) -> StandIn:
        """Bind the sockets; the app and the SMTP sink start with their first client."""
        serve: dict[RawSocket, Callable[[RawSocket], None]] = {}
        try:
            self._stack.callback(self._sink.stop)
            serve[self._sink.listen()] = self._sink.serve
            if self.listen:
                sock = httpd.bind("127.0.0.1", 0)
                self._base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
                serve[sock] = self._serve
                self._stack.callback(self._stop_server)
            # one thread waits for both; it stops first, waiting for a start under way
            self._stack.enter_context(OnFirstConnection(serve, "sss-standin-waiter"))
        except BaseException:
            for sock in serve:
                sock.close()
            self._stack.close()
            raise
        _log.debug("stand-in at %s, SMTP sink at %s:%d",
                   self.url if self.listen else "(mounted)", *self.smtp)
        return self

    def _serve(self, sock: RawSocket) -> None:
        """Build the app and serve it on ``sock``: a script has just connected."""
        _log.debug("first client: starting the stand-in at %s", self._base_url)
        # a short poll interval makes stop() return quickly (tests start many stand-ins)
        self._server = httpd.start_server(self.app, sock, poll_interval=0.05,
                                          name="sss-backend")

    def _stop_server(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def stop(self) -> None:
        self._stack.close()
