"""Watch mode: rerun a script the moment the files it reads change.

Script authors iterate (edit, run, look, edit), so ``sss-emulate SCRIPT --watch`` and
``sss-emulate watch SCRIPT`` keep the same call going. Three threads share the work:

* watchdog's thread filters events (:class:`~sss_emulator.watch.targets.WatchTargets`) and only
  records the path and sets an event: it never runs anything, so a slow run cannot lose events;
* the main thread debounces, prints what changed, re-reads every file through
  :func:`~sss_emulator.invocation.prepare` and starts the run; Ctrl+C and SIGTERM land here;
* each run has its own thread, so that a change (or quitting) can stop it through the runner's
  ``cancel`` event, which kills the script's whole process group and removes its working dir.

Nothing a run does can stop the watcher: refusals, crashes, syntax errors and missing scripts are
reported and the loop goes on. Only this module imports watchdog.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
import threading
import time
import warnings
from datetime import datetime
from typing import BinaryIO, TextIO

from watchdog.events import (
    EVENT_TYPE_ATTRIB,
    EVENT_TYPE_CLOSED,
    EVENT_TYPE_CREATED,
    EVENT_TYPE_DELETED,
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_MOVED,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from sss_emulator.errors import EmulatorError, SetupError
from sss_emulator.invocation import Prepared, RunInvocation, prepare
from sss_emulator.terminal import printable, say
from sss_emulator.watch.config import DEFAULT_DEBOUNCE_MS, WatchConfig
from sss_emulator.watch.run import WatchedRun
from sss_emulator.watch.targets import WatchTargets, targets_for

__all__ = ("DEFAULT_DEBOUNCE_MS", "WatchConfig", "watch_invocation")

logger = logging.getLogger("sss_emulator.watch.loop")

#: How often the polling observer (``--poll``) compares directory snapshots.
POLL_INTERVAL_S = 0.1
#: A file that is written without pause still reruns after this many debounce periods.
_MAX_DEBOUNCE_PERIODS = 10
_CHANGE_EVENTS = frozenset({EVENT_TYPE_CREATED, EVENT_TYPE_DELETED, EVENT_TYPE_MOVED,
                            EVENT_TYPE_MODIFIED, EVENT_TYPE_CLOSED, EVENT_TYPE_ATTRIB})
_QUIT_WORDS = frozenset({"q", "quit", "exit"})
#: The kind a folder's event is recorded with: it changes nothing a save waits for.
_FOLDER = "folder"
#: How soon the main loop notices Ctrl+C or SIGTERM (the handler only sets a flag).
_SIGNAL_POLL_S = 0.1


# --- what other threads tell the main loop --------------------------------------------------


class _Inbox:
    """Changes, Enter and ``q``: each sender records and sets one event, nothing more."""

    def __init__(self) -> None:
        self.wake = threading.Event()
        self._lock = threading.Lock()
        self._changes: list[str] = []
        #: The changed paths' state in this burst of events (see :class:`_SaveState`).
        self._states: dict[str, _SaveState] = {}
        self._rerun = False
        self.quit = False
        #: Set by our signal handler, which must not take locks or raise (it may interrupt the
        #: main thread inside ``Event.wait``); the main loop polls it.
        self.signalled = 0

    @property
    def done(self) -> bool:
        return self.quit or bool(self.signalled)

    def post_change(self, path: str, kind: str = EVENT_TYPE_MODIFIED, *,
                    track_writes: bool = False) -> None:
        """Record a change of ``path``; ``kind`` is what happened to it (a move counts as
        ``deleted`` for its old path and ``created`` for its new one)."""
        with self._lock:
            self._changes.append(path)
            state = self._states.get(path)
            if state is None:
                state = self._states[path] = _SaveState(
                    existed=kind not in (EVENT_TYPE_CREATED, _FOLDER))
            state.note(kind, track_writes)
        self.wake.set()

    def settled(self) -> bool:
        """No changed file is still being written, and none that was there before the burst
        is missing: an editor's save is complete (see :class:`_SaveState`)."""
        with self._lock:
            return all(state.settled for state in self._states.values())

    def post_key(self, line: str) -> None:
        with self._lock:
            if line.strip().lower() in _QUIT_WORDS:
                self.quit = True
            else:
                self._rerun = True
        self.wake.set()

    def take_rerun(self) -> bool:
        with self._lock:
            rerun, self._rerun = self._rerun, False
            return rerun

    def has_changes(self) -> bool:
        with self._lock:
            return bool(self._changes)

    def take_changes(self) -> list[str]:
        with self._lock:
            changes, self._changes = list(dict.fromkeys(self._changes)), []
            self._states = {}
            return changes


class _SaveState:
    """What the events of one burst say about one path, so that a rerun starts the moment a
    save is complete and never in its middle, however the editor saves:

    * in place (VS Code, most editors): written, then closed — complete at the close;
    * vim's backup: the file renamed to ``file~``, a new file written and closed — missing
      in between, complete at the close;
    * atomic (JetBrains, many others): a temp file written, then renamed over the file —
      complete at the rename (the temp file, made in the burst, is not awaited).

    Writes are tracked only with inotify (``track_writes``): the polling observer sees no
    close, and waits for quiet alone. A file that never closes (an ``os.truncate``) or stays
    deleted reruns at the debounce's cap.
    """

    __slots__ = ("existed", "present", "writing")

    def __init__(self, existed: bool) -> None:
        self.existed = existed  # there before this burst: if it goes, a new one will come
        self.present = True
        self.writing = False

    def note(self, kind: str, track_writes: bool) -> None:
        if kind == EVENT_TYPE_DELETED:
            self.present = self.writing = False
        elif kind == EVENT_TYPE_CREATED:
            self.present = True
            self.writing = track_writes
        elif kind == EVENT_TYPE_MODIFIED:
            self.writing = track_writes
        elif kind == EVENT_TYPE_CLOSED:
            self.writing = False
        elif kind == EVENT_TYPE_MOVED:  # its new name: renamed into place, complete
            self.present, self.writing = True, False

    @property
    def settled(self) -> bool:
        return not self.writing and (self.present or not self.existed)


class _ChangeHandler(FileSystemEventHandler):
    """Runs in watchdog's thread: drop what is not a change to a watched path, signal the rest."""

    def __init__(self, inbox: _Inbox, targets: WatchTargets, *, track_writes: bool) -> None:
        self.inbox = inbox
        self.targets = targets  # replaced (one assignment) when a run re-reads the config
        self.track_writes = track_writes

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind not in _CHANGE_EVENTS:
            return
        if event.is_directory and kind not in (EVENT_TYPE_CREATED, EVENT_TYPE_DELETED,
                                               EVENT_TYPE_MOVED):
            return
        if event.is_directory:
            kind = _FOLDER  # a folder's files are what is awaited, not the folder
        targets = self.targets
        # A rename names its new path first: that is the file the change is shown for; its
        # old path has gone (vim's backup rename) and is awaited if it was there before.
        src_kind = EVENT_TYPE_DELETED if kind == EVENT_TYPE_MOVED else kind
        if kind == _FOLDER:
            src_kind = _FOLDER
        for raw, what in ((event.dest_path, kind), (event.src_path, src_kind)):
            path = os.fsdecode(raw) if raw else ""
            if path and targets.matters(path):
                self.inbox.post_change(path, what, track_writes=self.track_writes)


def _read_keys(stream: TextIO, inbox: _Inbox) -> None:
    """Enter reruns, ``q`` + Enter quits (only started when stdin is a terminal)."""
    try:
        for line in stream:
            inbox.post_key(line)
    except (OSError, ValueError):  # the terminal went away; Ctrl+C still works
        return


def _identity(folder: str) -> tuple[int, int]:
    """Device and inode: a folder deleted and made again needs a new watch."""
    try:
        stat = os.stat(folder)
    except OSError:
        return (0, 0)
    return (stat.st_dev, stat.st_ino)


# --- the loop ---------------------------------------------------------------------------------


class _WatchLoop:
    """Debounce, re-read, rerun; owns the observer and the current run."""

    def __init__(self, invocation: RunInvocation, cfg: WatchConfig, out: BinaryIO,
                 err: TextIO) -> None:
        self.invocation, self.cfg, self.out, self.err = invocation, cfg, out, err
        self.inbox = _Inbox()
        self.handler = _ChangeHandler(self.inbox, self._targets(None),
                                      track_writes=not cfg.poll)
        self.observer: BaseObserver = (PollingObserver(timeout=POLL_INTERVAL_S) if cfg.poll
                                       else Observer())
        self.watches: dict[tuple[str, bool, tuple[int, int]], ObservedWatch] = {}
        self.failed: set[str] = set()
        self.current: WatchedRun | None = None
        self.number = 0
        self.notes: tuple[str, ...] = ()

    def _targets(self, prepared: Prepared | EmulatorError | None) -> WatchTargets:
        inv = self.invocation
        settings = prepared.settings if isinstance(prepared, Prepared) else None
        return targets_for(inv.script, inv.script_args, inv.options, inv.cwd, settings)

    def _refresh(self, targets: WatchTargets) -> None:
        """Point the observer at the folders of this run's configuration."""
        self.handler.targets = targets
        wanted = {(folder, recursive, _identity(folder))
                  for folder, recursive in targets.schedule()}
        for key in [k for k in self.watches if k not in wanted]:  # gone, or a new folder now
            try:
                self.observer.unschedule(self.watches.pop(key))
            except (KeyError, OSError):  # its emitter already ended with the folder
                logger.debug("watch of %s was already gone", key[0])
        for key in sorted(wanted - set(self.watches)):
            folder, recursive, _ = key
            try:
                self.watches[key] = self.observer.schedule(self.handler, folder,
                                                           recursive=recursive)
            except OSError as exc:  # e.g. out of inotify watches: say it once, keep going
                if folder not in self.failed:
                    self.failed.add(folder)
                    say(self.err, f"warning: cannot watch {folder}: {exc}; try --poll")

    def _prepare(self) -> Prepared | EmulatorError:
        """Re-read every setting and file; whatever happens, refresh what is watched."""
        try:
            prepared: Prepared | EmulatorError = prepare(self.invocation)
        except EmulatorError as error:
            prepared = error
        except Exception as exc:  # whatever breaks here must not end the watch
            logger.debug("preparing the run failed", exc_info=True)
            prepared = SetupError(f"Cannot prepare the run: {exc}; fix it and save again.")
        self._refresh(self._targets(prepared))
        if isinstance(prepared, Prepared) and prepared.settings.notes != self.notes:
            self.notes = prepared.settings.notes
            for note in self.notes:
                say(self.err, f"note: {note}")
        return prepared

    def _fmt(self, prepared: Prepared | EmulatorError) -> str:
        if isinstance(prepared, Prepared):
            return prepared.fmt
        return str(self.invocation.options.get("format") or os.environ.get("SSS_FORMAT")
                   or "text")

    def start_run(self, reason: str, prepared: Prepared | EmulatorError | None = None) -> None:
        """Stop the current run, if any, and start the next one (``prepared`` already, or now)."""
        if self.current is not None:
            self.current.stop()
            self.current = None
        if self.cfg.clear and self.err.isatty():
            self.err.write("\033[2J\033[H")
        self.number += 1
        say(self.err, f"[{datetime.now():%H:%M:%S}] run {self.number}: {reason}")
        if prepared is None:
            prepared = self._prepare()
        self._debug_once(prepared)
        self.current = WatchedRun(self.number, prepared, self._fmt(prepared), self.out, self.err)

    def _debug_once(self, prepared: Prepared | EmulatorError) -> None:
        """``--debug-wait once``: only this run waits for a debugger, later ones run at once."""
        if not isinstance(prepared, Prepared):
            return
        wait = prepared.settings.values.get("debug_wait")
        if isinstance(wait, str) and wait.strip().lower().startswith("once"):
            options = {**self.invocation.options, "debug_wait": "off"}
            self.invocation = dataclasses.replace(self.invocation, options=options)

    def _debounce(self) -> None:
        """Wait until no change came for ``debounce_s`` and the save is complete (an editor's
        save is several events; one whose file is still open or not yet back is awaited)."""
        quiet = self.quiet_s
        cap = time.monotonic() + max(quiet * _MAX_DEBOUNCE_PERIODS, 1.0)
        while time.monotonic() < cap and not self.inbox.done:
            self.inbox.wake.clear()
            if not self.inbox.wake.wait(quiet) and self.inbox.settled():
                return

    @property
    def quiet_s(self) -> float:
        """The debounce; with ``--poll`` at least two poll intervals, since the polling
        observer sees no close and a save may straddle one snapshot: less could not see quiet."""
        if self.cfg.poll:
            return max(self.cfg.debounce_s, 2 * POLL_INTERVAL_S)
        return self.cfg.debounce_s

    def _reason(self, changes: list[str]) -> str:
        def show(path: str) -> str:
            rel = os.path.relpath(path, self.invocation.cwd)
            # a file name is anyone's (a pull brings it in): it must not forge a line of ours
            return printable(path if rel.startswith("..") else rel, one_line=True)

        # An editor's atomic save touches a temp file first: name the file that is still there.
        existing = [path for path in changes if os.path.exists(path)]
        shown = (existing or changes)[-1]
        more = f" (+{len(changes) - 1} more)" if len(changes) > 1 else ""
        return f"changed {show(shown)}{more}"

    def run(self, keys: TextIO | None) -> int:
        """The main loop; returns after ``q``, Ctrl+C or SIGTERM."""
        # inotify reuses watch ids when our own run folders come and go below a watched folder;
        # watchdog warns about each reuse, which is noise here (those paths are ignored).
        warnings.filterwarnings("ignore", category=RuntimeWarning,
                                module=r"watchdog\.observers\.inotify")
        self.observer.start()
        if keys is not None:
            threading.Thread(target=_read_keys, args=(keys, self.inbox), daemon=True).start()
        # What is watched is said before the first run starts: its output must come after.
        prepared = self._prepare()
        hint = "Enter reruns, q quits" if keys is not None else "Ctrl+C quits"
        say(self.err, f"watching {self.handler.targets.describe()} "
                       f"({'polling' if self.cfg.poll else 'events'}, debounce "
                       f"{self.quiet_s * 1000:.0f} ms); {hint}")
        if not self.cfg.postpone:
            self.start_run("start", prepared)
        while True:
            self.inbox.wake.wait(_SIGNAL_POLL_S)
            self.inbox.wake.clear()
            if self.inbox.done:
                return 0
            if self.inbox.take_rerun():
                self.inbox.take_changes()
                self.start_run("rerun requested")
            elif self.inbox.has_changes():
                self._debounce()
                if self.inbox.done:
                    return 0
                self.inbox.take_rerun()
                self.start_run(self._reason(self.inbox.take_changes()))

    def close(self) -> None:
        """Stop the run and the observer; leaves no process and no working directory."""
        if self.current is not None:
            self.current.stop()
        self.observer.stop()
        if self.observer.is_alive():
            self.observer.join(timeout=5)


def watch_invocation(
    invocation: RunInvocation,
    *,
    stdout: BinaryIO | None = None,
    stderr: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Run ``invocation`` now and after every change until ``q``, Ctrl+C or SIGTERM.

    Returns 0 on a clean quit, or the emulator's exit code when the watch options are wrong.
    Keys are read from ``stdin`` (default: ours) only when it is a terminal.
    """
    out = stdout or sys.stdout.buffer
    err = stderr or sys.stderr
    keys = stdin if stdin is not None else sys.stdin
    try:
        cfg = WatchConfig.from_invocation(invocation)
    except EmulatorError as error:
        say(err, f"error: {error.message}")
        return error.exit_code
    loop = _WatchLoop(invocation, cfg, out, err)
    interactive = keys is not None and not keys.closed and keys.isatty()
    main_thread = threading.current_thread() is threading.main_thread()
    stop_signals = [signal.SIGINT, signal.SIGTERM]
    if hasattr(signal, "SIGHUP"):  # the terminal closed: stop as cleanly as for Ctrl+C
        stop_signals.append(signal.SIGHUP)
    previous = {sig: signal.getsignal(sig) for sig in stop_signals}

    def stop_on(signum: int, frame: object) -> None:
        loop.inbox.signalled = signum  # one assignment: safe whatever the main thread holds

    if main_thread:  # SIGTERM ends the watch as cleanly as Ctrl+C (watchfiles' catch_sigterm)
        for sig in stop_signals:
            signal.signal(sig, stop_on)
    try:
        loop.run(keys if interactive else None)
        if loop.inbox.signalled:
            say(err, f"stopping ({signal.Signals(loop.inbox.signalled).name})")
        return 0
    except KeyboardInterrupt:  # Ctrl+C when we are not the main thread's handler
        say(err, "stopping (interrupted)")
        return 0
    finally:
        try:
            loop.close()
        finally:
            if main_thread:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
        say(err, "watch ended; no run left behind")
