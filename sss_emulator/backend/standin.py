"""Everything one script run needs from the stand-in, started and stopped together.

The CLI, the pytest plugin and ``serve`` each need the same set: a store seeded from data files,
the app on a port, the SMTP sink, the ``sendmail`` program, and the patched ini. After the run
they need the calls, the changes and the mails. :class:`StandIn` bundles these so each adapter
stays thin.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from sss_emulator.backend.app import Authenticate, CallRecorder, make_backend_app
from sss_emulator.backend.ini import patch_pylinkahead_ini
from sss_emulator.backend.lifecycle import Service
from sss_emulator.backend.mail import MailCollector, SmtpSink, write_sendmail_program
from sss_emulator.backend.model import UserRecord
from sss_emulator.backend.service import BackendServer
from sss_emulator.backend.store import EntityStore
from sss_emulator.wire import context_root_prefix

__all__ = ["StandIn"]

_log = logging.getLogger("sss_emulator.backend.standin")


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
        users: users ``GET User/<realm>/<name>`` knows besides the caller (e-mail, roles).

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
    ) -> None:
        self.listen = listen
        self.store = store if store is not None else EntityStore()
        if self.store.sqlite_path is not None and len(self.store) and data_files:
            # a persistent store was seeded when it was created; loading again would duplicate
            _log.info(
                "%s already holds %d entities; data files not loaded again",
                self.store.sqlite_path,
                len(self.store),
            )
        else:
            for path in data_files:
                self.store.load(path)
        self.store.reset_changes()
        self.recorder = CallRecorder()
        self._stack = ExitStack()
        if state_dir is None:
            owned = tempfile.TemporaryDirectory(prefix="sss-standin-")
            self._stack.callback(owned.cleanup)
            state_dir = owned.name
        self.state_dir = Path(state_dir)
        self.collector = MailCollector(self.state_dir / "mail")
        self.bin_dir = self.state_dir / "bin"
        self.context_root = context_root_prefix(context_root)
        self.app = make_backend_app(
            self.store,
            authenticate=authenticate,
            recorder=self.recorder,
            file_root=file_root,
            context_root=self.context_root,
            users=users,
        )
        self.sendmail = write_sendmail_program(self.bin_dir, self.collector.spool_dir)
        self._server = BackendServer(self.app)
        self._sink = SmtpSink(self.collector)

    @property
    def url(self) -> str:
        """The URL scripts use, context root included."""
        return self._server.url + self.context_root

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
        """``server_calls``, ``changes`` and ``mails`` as plain data (``--format json``)."""
        return {
            "server_calls": self.recorder.calls,
            "changes": {k: list(v) for k, v in self.store.changes.items()},
            "mails": [m.to_dict() for m in self.collector.mails],
        }

    def reset(self) -> None:
        """Forget calls, changes and mails (not the data), e.g. between two runs in ``serve``."""
        self.recorder.clear()
        self.store.reset_changes()
        self.collector.clear()

    def start(self) -> StandIn:
        try:
            if self.listen:
                self._stack.enter_context(self._server)
            self._stack.enter_context(self._sink)
        except BaseException:
            self._stack.close()
            raise
        _log.debug("stand-in at %s, SMTP sink at %s:%d",
                   self.url if self.listen else "(mounted)", *self.smtp)
        return self

    def stop(self) -> None:
        self._stack.close()

