"""pytest nodes for call files: one :class:`CallFile` per file, one :class:`CallItem` per case."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from sss_emulator.callfile import (
    CallCase,
    CallFileError,
    Normalisers,
    check_outcome,
    load_call_file,
)
from sss_emulator.core.outcome import RunOutcome
from sss_emulator.core.roots import mark_kept, owned_dir
from sss_emulator.errors import EmulatorError, ScriptTimeout
from sss_emulator.terminal import printable

from .parity import ParityError
from .pytest_emulator import PytestEmulator
from .settings import PluginConfigError
from .snapshots import (
    SnapshotMismatch,
    SnapshotNameError,
    checked_name,
    snapshot_folder,
    snapshots_for,
)
from .state import STATE, PluginState

__all__ = ("CALL_FAILED", "CallCaseFailure", "CallFile", "CallItem")


#: Set by the plugin's report hook: did this test's call phase fail?
CALL_FAILED = pytest.StashKey[bool]()


class CallCaseFailure(Exception):
    """A case's run did not match its ``expect``; ``args[0]`` lists the differences."""


class CallFile(pytest.File):
    """An ``sss_*.yaml`` / ``sss_*.toml`` file of call cases."""

    def collect(self) -> Iterable[CallItem]:
        try:
            cases = load_call_file(self.path)
        except CallFileError as exc:
            raise self.CollectError(str(exc)) from None
        for case in cases:
            # a recorded case is named for its call, which a client of `record` chose: the
            # name pytest prints must not drive the terminal
            yield CallItem.from_parent(self, name=printable(case.name, one_line=True),
                                       case=case)


class CallItem(pytest.Item):
    """One case: run its call, compare with ``expect``."""

    def __init__(self, *, case: CallCase, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self._root: Path | None = None

    def _state(self) -> PluginState:
        return self.config.stash[STATE]

    def setup(self) -> None:
        # named for this session's process, below the owned scratch root: should pytest be
        # killed before teardown, the next session that runs a call file removes it
        self._root = owned_dir("callfile")

    def teardown(self) -> None:
        state = self._state()
        failed = self.stash.get(CALL_FAILED, False)
        if self._root is None:
            return
        if failed and state.log.kept:
            mark_kept(self._root)  # --sss-keep: the kept run's folders outlive this session
        else:
            shutil.rmtree(self._root, ignore_errors=True)

    def runtest(self) -> None:
        case = self.case
        where = f"{self.path} case {case.name!r}"
        assert self._root is not None
        emulator = self._state().build(self._root, dict(case.settings), where,
                                       self.path.parent)
        try:
            self._check(emulator)
        finally:
            close = getattr(emulator, "close", None)  # hooks may own servers
            if close is not None:
                close()

    def _check(self, emulator: PytestEmulator) -> None:
        case = self.case
        request = case.request()
        expected_error = case.expect.get("error")
        try:
            outcome = emulator.run(request)
        except ScriptTimeout as exc:
            if case.expect.get("timed_out") or expected_error == "ScriptTimeout":
                return
            raise CallCaseFailure([f"the run timed out: {exc.message}"]) from None
        except EmulatorError as exc:
            if expected_error == type(exc).__name__:
                return
            wanted = f"expected {expected_error}" if expected_error else "expected it to run"
            raise CallCaseFailure([f"the call was refused ({wanted}): "
                                   f"{type(exc).__name__}: {exc.message}"]) from None
        if expected_error:
            raise CallCaseFailure([f"expected the call to be refused with {expected_error}, "
                                   f"but it ran (code {outcome.code})"])
        normalisers = self._normalisers(emulator, outcome) if case.expect.get("normalise") \
            else None
        stdout, stderr = outcome.stdout_text, outcome.stderr_text
        if normalisers is not None:  # a recorded answer: the texts as the XML carried them
            stdout, stderr = outcome.stdout or "", outcome.stderr or ""
        problems = check_outcome(case.expect, outcome.code, outcome.timed_out, stdout, stderr,
                                 outcome.shared_files, call=outcome.call,
                                 normalisers=normalisers)
        if case.snapshot:
            problems += self._snapshot_problems(outcome)
        if problems:
            raise CallCaseFailure(problems)

    def _normalisers(self, emulator: PytestEmulator, outcome: RunOutcome) -> Normalisers:
        """``expect.normalise``: rewrite what differs between any two runs (tokens, SHARED_DIR
        names, bin dir paths, …) on both sides, as ``sss-emulate compare`` does."""
        from sss_emulator.fidelity.normalise import (
            Normaliser,
            SideFacts,
            load_rules,
            outcome_normaliser,
        )

        rules_file = self.case.rules_file
        rules = load_rules(rules_file) if rules_file is not None else ()
        expected = Normaliser(SideFacts(script_call=self.case.call), rules)
        return expected, outcome_normaliser(outcome, emulator.bin_dirs, rules)

    def _snapshot_problems(self, outcome: RunOutcome) -> list[str]:
        try:
            folder = snapshot_folder(self.path, checked_name(self.case.name, "the case name"))
        except SnapshotNameError as error:
            return [f"snapshot: {error}"]
        assert self._root is not None
        snapshots = snapshots_for(self.config, folder, self._root)
        try:
            snapshots.check(outcome)
        except SnapshotMismatch as exc:
            return str(exc).splitlines()
        return []

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str | Any:
        value = excinfo.value
        header = f"{self.path.name}::{self.name} ({printable(self.case.call, one_line=True)})"
        if isinstance(value, CallCaseFailure):
            return "\n".join([f"{header}: the run did not match", *(f"  {p}" for p in
                                                                     value.args[0])])
        if isinstance(value, ParityError | PluginConfigError):
            return f"{header}: {value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"sss call: {self.name}"
