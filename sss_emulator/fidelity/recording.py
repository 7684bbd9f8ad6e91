"""A recorded ``/scripting`` call → a call file the pytest plugin runs, with its uploads beside it.

The server's answer becomes the expectation (``code``, ``call``, ``stdout_exact``,
``stderr_exact``, shared files, or the ``error`` of a refusal), normalised the way ``compare``
normalises, with ``expect.normalise`` set so the local run is normalised alike when checked.
Nothing else is kept: no header, no cookie, no password. The caller's token, and any token a
script printed (its own, minted by the server and unknown here), are redacted from every text
that is written, before it is written: stdout, stderr, the call, argument values and names,
shared files' texts and names. A printed token is recognised by its content in every form a
script is likely to print it (:mod:`sss_emulator.core.printed_tokens`).
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sss_emulator import decisions, errors
from sss_emulator.core.call import FieldValue, Upload, check_upload_name
from sss_emulator.core.printed_tokens import redact_printed_tokens
from sss_emulator.fidelity.normalise import TOKEN, Normaliser, Rule, SideFacts
from sss_emulator.fidelity.observed import Observed

__all__ = ("MAX_INLINE_SHARED", "CallFileWriter", "RecordedCall", "error_name_for")

_NUMBERED = re.compile(r"sss_(\d+)_")
_POSITIONAL = re.compile(r"-p(\d+)\Z")
#: The largest shared file whose text is written into the expectation (bigger: name only).
MAX_INLINE_SHARED = 256 * 1024


@dataclass(frozen=True)
class RecordedCall:
    """One call as it went through the proxy.

    Attributes:
        fields: the form parts in order; uploads point at files the proxy spooled.
        observed: the server's answer, with the shared files that could be fetched.
        tokens: the caller's session token(s), redacted wherever they appear.
        anonymous: the request carried no session cookie.
    """

    fields: Sequence[tuple[str, FieldValue]]
    observed: Observed
    tokens: tuple[str, ...] = ()
    anonymous: bool = False


#: The error each refusal status of the server stands for (``expect.error``); a 500 that is no
#: timeout, and anything else, is a failed set-up.
_REFUSALS: dict[int, type[errors.EmulatorError]] = {
    kind.http_status: kind for kind in (
        errors.BadRequestForm, errors.NotAuthenticated, errors.PermissionDenied,
        errors.ScriptNotFound, errors.RequestTooLarge, errors.UnsupportedMediaType)
}


def error_name_for(status: int | None, description: str | None) -> str:
    """The error class a refusal with this status stands for (``expect.error``)."""
    if status == 500 and description == decisions.TIMEOUT_DESCRIPTION:
        return errors.ScriptTimeout.__name__
    if status == 400 and "executable" in (description or "").lower():
        return errors.ScriptNotExecutable.__name__
    kind = _REFUSALS.get(status or 0, errors.SetupError)
    return kind.__name__


class _Dumper(yaml.SafeDumper):
    """Multi-line texts as literal blocks (``|``), which read like the output they hold."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def _slug(call: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", call).strip("_.")[:60] or "call"


def _text_of(data: bytes) -> str | None:
    if len(data) > MAX_INLINE_SHARED:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text


class CallFileWriter:
    """Writes ``sss_<NNNN>_<call>.yaml`` files (numbered after those already in ``out_dir``).

    Args:
        out_dir: where call files go (created on the first call).
        upstream: the server's URL, named in each file's header comment.
        bin_dirs: written as the files' ``bin_dirs`` (relative to ``out_dir``) when given.
        rules_file: a rule file the expectations were normalised with; named by
            ``expect.normalise`` so checks use it too.
        rules: its rules.
    """

    def __init__(self, out_dir: Path, *, upstream: str = "", bin_dirs: Sequence[Path] = (),
                 rules_file: Path | None = None, rules: Sequence[Rule] = ()) -> None:
        self.out_dir = out_dir
        self.upstream = upstream
        self.bin_dirs = tuple(Path(b).absolute() for b in bin_dirs)
        self.rules_file = rules_file.absolute() if rules_file is not None else None
        self.rules = tuple(rules)
        self._lock = threading.Lock()
        self._next = 1 + max((int(m.group(1)) for p in self._existing()
                              if (m := _NUMBERED.match(p.name))), default=0)

    def _existing(self) -> list[Path]:
        return list(self.out_dir.glob("sss_*")) if self.out_dir.is_dir() else []

    def _claim(self, call: str) -> str:
        with self._lock:
            number, self._next = self._next, self._next + 1
        return f"sss_{number:04d}_{_slug(call)}"

    def write(self, recorded: RecordedCall) -> Path:
        """Write one call file (and its uploads); return its path."""
        fields = list(recorded.fields)
        call = next((v for n, v in fields if n == "call" and isinstance(v, str)), "")
        stem = self._claim(call or "no-call")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        case, header = self._case(stem, call, recorded)
        path = self.out_dir / f"{stem}.yaml"
        document = yaml.dump(case, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                             width=100)
        path.write_text("".join(f"# {line}\n" for line in header) + document, encoding="utf-8")
        return path

    # --- building the case -------------------------------------------------------------------

    def _relative(self, target: Path) -> str:
        try:
            return target.relative_to(self.out_dir.absolute()).as_posix()
        except ValueError:
            return Path(os.path.relpath(target, self.out_dir.absolute())).as_posix()

    def _case(self, stem: str, call: str, recorded: RecordedCall
              ) -> tuple[dict[str, Any], list[str]]:
        observed = recorded.observed
        texts = [value for _, value in recorded.fields if isinstance(value, str)]
        texts += [name for name, _ in recorded.fields]
        texts += [name for name in observed.shared or {}]
        texts += [text for data in (observed.shared or {}).values()
                  if data is not None and (text := _text_of(data)) is not None]
        norm = Normaliser(SideFacts(script_call=call, tokens=recorded.tokens,
                                    srids=(observed.srid,) if observed.srid else ()),
                          self.rules).learned_from([observed.stdout or "", observed.stderr or "",
                                                    observed.call or ""]
                                                   ).with_token_parts_of(texts)
        redact = _Redactor(recorded.tokens, norm.facts.token_parts)
        when = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        header = [f"Recorded by sss-emulate record from {self.upstream or 'a server'} at {when}.",
                  "The server's answer is the expectation (normalised: tokens, SHARED_DIR "
                  "names, bin dir paths, …).",
                  f"Run it: pytest {stem}.yaml  or  sss-emulate replay {stem}.yaml"]
        case: dict[str, Any] = {"name": redact(observed.call or call or stem), "call": call}
        if self.bin_dirs:
            case["bin_dirs"] = [self._relative(b) for b in self.bin_dirs]
        options, positionals, uploads, notes = self._arguments(stem, recorded.fields, redact)
        if options:
            case["options"] = options
        if positionals:
            case["positionals"] = positionals
        if uploads:
            case["uploads"] = uploads
        if recorded.anonymous:
            case["anonymous"] = True
        elif observed.user is not None:
            case["user"] = observed.user.name
            case["roles"] = list(observed.user.roles)
        else:
            notes.append("the answer did not say who ran the call; add user: and roles: to run "
                         "it as that user")
        case["expect"] = self._expect(observed, norm)
        header += [f"Note: {note}" for note in notes]
        return case, header

    def _arguments(self, stem: str, fields: Sequence[tuple[str, FieldValue]],
                   redact: _Redactor) -> tuple[dict[str, str], list[str | None],
                                               dict[str, str], list[str]]:
        options: dict[str, str] = {}
        positionals: dict[int, str | None] = {}
        uploads: dict[str, str] = {}
        notes: list[str] = []
        files_dir = self.out_dir / f"{stem}.files"
        for name, value in fields:
            if name == "call":
                continue
            if isinstance(value, Upload):
                filename = redact(value.filename)
                try:
                    check_upload_name(filename)
                except errors.BadRequestForm:  # ../x or /abs: never a path outside out_dir
                    notes.append(f"field {redact(name)}: the file name {filename!r} is not a "
                                 f"plain file name; kept as upload-{len(uploads)}, so a replay "
                                 "sends that name")
                    filename = f"upload-{len(uploads)}"
                target = files_dir / filename
                if target.exists():  # another part had the same name; the server refuses it
                    target = files_dir / str(len(uploads)) / filename
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(value.source, target)
                name = redact(name)
                if name in uploads:
                    notes.append(f"field {name} carried two files; only the last is replayed")
                uploads[name] = self._relative(target)
                match = _POSITIONAL.match(name)
                if match:
                    positionals[int(match.group(1))] = None
                continue
            match = _POSITIONAL.match(name)
            if match:
                positionals[int(match.group(1))] = redact(value)
            elif name.startswith("-O"):
                name = redact(name)
                if name[2:] in options:
                    notes.append(f"option {name} was sent twice; only the last value is kept")
                options[name[2:]] = redact(value)
        ordered: list[str | None] = [positionals.get(i) for i in
                                     range(max(positionals, default=-1) + 1)]
        return options, ordered, uploads, notes

    def _expect(self, observed: Observed, norm: Normaliser) -> dict[str, Any]:
        normalise: bool | str = True
        if self.rules_file is not None:
            normalise = self._relative(self.rules_file)
        if observed.code is None:
            name = error_name_for(observed.status, observed.error)
            if name == errors.ScriptTimeout.__name__:
                return {"timed_out": True}
            return {"error": name}
        expect: dict[str, Any] = {"normalise": normalise, "code": observed.code}
        if observed.call is not None:
            expect["call"] = norm(observed.call)
        expect["stdout_exact"] = norm(observed.stdout or "")
        expect["stderr_exact"] = norm(observed.stderr or "")
        if observed.shared is not None:  # {}: the answer linked to no file
            expect["shared_files"] = self._shared(observed.shared, norm)
        return expect

    @staticmethod
    def _shared(shared: Mapping[str, bytes | None], norm: Normaliser) -> dict[str, str | bool]:
        found: dict[str, str | bool] = {}
        for name in sorted(shared):
            data = shared[name]
            text = _text_of(data) if data is not None else None
            name = redact_printed_tokens(name, norm.facts.token_parts)  # a name only loses tokens
            found[name] = norm(text) if text is not None else True
        return found


class _Redactor:
    """Replaces tokens in argument values and names (a script may be passed one): the caller's
    as sent, and any token recognised by its content (``parts``: checksums and salts)."""

    def __init__(self, tokens: Sequence[str], parts: Sequence[str] = ()) -> None:
        self.tokens = sorted((t for t in tokens if t), key=len, reverse=True)
        self.parts = tuple(parts)

    def __call__(self, text: str) -> str:
        for token in self.tokens:
            text = text.replace(token, TOKEN)
        return redact_printed_tokens(text, self.parts)
