"""The result of one emulated run: what pylib's ``ScriptingResponse`` has, and more to assert on."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sss_emulator import decisions
from sss_emulator.core.render import (
    ResponseMeta,
    render_error_xml,
    render_json,
    render_response_xml,
    xml_safe,
)
from sss_emulator.core.tokens import Identity
from sss_emulator.errors import EmulatorError
from sss_emulator.wire import context_root_prefix

__all__ = ("RunOutcome", "redact_argv")

_REDACTED = "--auth-token=<redacted>"


def redact_argv(argv: Sequence[str]) -> tuple[str, ...]:
    """argv with the token replaced, for logs, reports and JSON."""
    return tuple(_REDACTED if a.startswith("--auth-token=") else a for a in argv)


@dataclass(frozen=True)
class RunOutcome:
    """A finished run.

    ``code``, ``call``, ``stdout`` and ``stderr`` are exactly what pylib's ``ScriptingResponse``
    would hold after a round trip through the server's XML: an empty stream is ``None`` and
    characters XML cannot carry are replaced. ``stdout_text``/``stderr_text`` are the full decoded
    streams, and ``stdout_bytes``/``stderr_bytes`` the raw bytes.
    """

    call: str
    code: int | None
    stdout_bytes: bytes
    stderr_bytes: bytes
    argv: tuple[str, ...]
    shared_dir: Path
    workdir: Path
    kept: bool
    duration_s: float
    timed_out: bool
    identity: Identity
    error: EmulatorError | None = None
    context_root: str = ""
    token: str | None = field(default=None, repr=False)
    server_calls: tuple[Mapping[str, Any], ...] = ()
    changes: Mapping[str, Any] = field(default_factory=dict)
    mails: tuple[Any, ...] = ()
    notes: tuple[str, ...] = ()
    #: The ``call`` field of the request alone: the script's path below its bin dir.
    script_call: str = ""
    #: Form fields the server dropped (neither ``call``, ``-p<N>`` nor ``-O<name>``); each also
    #: has a line in ``notes``.
    ignored_fields: tuple[str, ...] = ()

    @property
    def stdout_text(self) -> str:
        return self.stdout_bytes.decode("utf-8", errors="replace")

    @property
    def stderr_text(self) -> str:
        return self.stderr_bytes.decode("utf-8", errors="replace")

    @property
    def stdout(self) -> str | None:
        return xml_safe(self.stdout_text) or None

    @property
    def stderr(self) -> str | None:
        return xml_safe(self.stderr_text) or None

    @property
    def ok(self) -> bool:
        return self.code == 0 and not self.timed_out

    @property
    def shared_files(self) -> dict[str, Path]:
        """Files left in SHARED_DIR, by their name relative to it."""
        if not self.shared_dir.is_dir():
            return {}
        return {
            p.relative_to(self.shared_dir).as_posix(): p
            for p in sorted(self.shared_dir.rglob("*"))
            if p.is_file()
        }

    def shared_link(self, name: str) -> str:
        """The download link the server gives a shared file: ``[/root]/Shared/<rand>/<name>``."""
        return f"{context_root_prefix(self.context_root)}/Shared/{self.shared_dir.name}/{name}"

    def to_xml(self, meta: ResponseMeta | None = None) -> bytes:
        """Exactly the server's response document for this run."""
        meta = meta or ResponseMeta(identity=self.identity)
        if self.timed_out or self.code is None:
            return render_error_xml(500, decisions.TIMEOUT_DESCRIPTION, meta)
        return render_response_xml(code=self.code, call=self.call, stdout=self.stdout_text,
                                   stderr=self.stderr_text, meta=meta)

    def json_fields(self) -> dict[str, Any]:
        """The extra fields of the JSON document beyond the common ones."""
        return {
            "workdir": str(self.workdir) if self.kept else None,
            "user": {"name": self.identity.name, "realm": self.identity.realm,
                     "roles": list(self.identity.roles)},
            "server_calls": [dict(c) for c in self.server_calls],
            "changes": dict(self.changes),
            "mails": [m if isinstance(m, dict) else getattr(m, "as_dict", lambda m=m: m)()
                      for m in self.mails],
            "notes": list(self.notes),
            "ignored_fields": list(self.ignored_fields),
        }

    def to_json(self) -> str:
        """The versioned ``--format json`` document of this run."""
        return render_json(
            code=self.code,
            call=self.call,
            stdout=self.stdout_text,
            stderr=self.stderr_text,
            argv=self.argv,
            shared_dir=str(self.shared_dir),
            shared_files=[
                {"name": name, "link": self.shared_link(name), "path": str(path)}
                for name, path in self.shared_files.items()
            ],
            timed_out=self.timed_out,
            duration_s=self.duration_s,
            error=self.error,
            extra=self.json_fields(),
        )

    def __repr__(self) -> str:
        state = "timed out" if self.timed_out else f"code={self.code}"
        return f"<RunOutcome {self.call!r} {state} {self.duration_s:.3f}s>"

    def report(self, shown: Callable[[str], str] = str) -> str:
        """A readable account of the run, for failing tests and ``--keep``.

        ``shown`` is applied to the call and argv (text a call file chose), not to the
        script's output (a terminal front end passes ``terminal.printable``).
        """
        lines = [
            f"call:       {shown(self.call)}",
            f"argv:       {shown(' '.join(self.argv))}",
            f"code:       {'timed out' if self.timed_out else self.code}",
            f"user:       {self.identity.name} ({', '.join(self.identity.roles) or 'no roles'})",
            f"workdir:    {self.workdir}{'' if self.kept else ' (removed)'}",
            f"shared_dir: {self.shared_dir}",
            f"duration:   {self.duration_s:.3f}s",
            "----- stdout -----",
            self.stdout_text.rstrip("\n"),
            "----- stderr -----",
            self.stderr_text.rstrip("\n"),
        ]
        return "\n".join(lines)
