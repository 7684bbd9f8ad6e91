"""The seams of the core: what a front end hands an emulator instead of the core knowing it.

* :class:`RunHook` prepares a run and adds to its outcome; the LinkAhead stand-in and a real
  server (:mod:`sss_emulator.connect`) are hooks, given by the front end.
* :class:`ProcessRunner` starts the script; :func:`~sss_emulator.core.runner.run_process` is the
  server's way, the pytest plugin's in-process mode is another.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sss_emulator.core.call import CallRequest
    from sss_emulator.core.outcome import RunOutcome
    from sss_emulator.core.runner import ProcessResult, StreamSink
    from sss_emulator.core.scripts import ResolvedScript
    from sss_emulator.core.tokens import Identity
    from sss_emulator.core.workspace import Workspace

__all__ = ("ProcessRunner", "RunContext", "RunHook")


@dataclass
class RunContext:
    """What a hook sees of a run before the script starts; hooks may change ``env``."""

    request: CallRequest
    script: ResolvedScript
    workspace: Workspace
    identity: Identity
    token: str | None
    env: dict[str, str]


class RunHook(Protocol):
    """Something that prepares a run and adds to its outcome (e.g. the LinkAhead stand-in).

    A hook writes files into HOME with ``context.workspace.place`` and reads them with
    ``read_home``: the next run's can then be made ahead, off its critical path.
    """

    def before_run(self, context: RunContext) -> None: ...

    def after_run(self, context: RunContext, outcome: RunOutcome) -> RunOutcome: ...

    def close(self) -> None:
        """Stop what the hook started; called when the emulator closes."""


class ProcessRunner(Protocol):
    """Starts ``argv`` in ``cwd`` with ``env`` and waits for it (``run_process``'s signature)."""

    def __call__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        timeout: float | None,
        on_stdout: StreamSink | None = None,
        on_stderr: StreamSink | None = None,
        cancel: threading.Event | None = None,
    ) -> ProcessResult: ...
