"""Run recorded calls locally again: a call file against its recorded answer, or a ``call``
string from a log line.

:func:`replay_file` runs each case of a call file (``sss-emulate record`` writes them) and
compares the local run with the recorded expectation through the same normalisation and report
as ``compare``. :func:`call_to_script_args` turns the ``call`` a ``ScriptingResponse`` shows
(``minimal.bash --option2=x Positional0``) back into ``sss-emulate run`` arguments.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sss_emulator import decisions, errors
from sss_emulator.callfile import CallCase, CallFileError, load_call_file
from sss_emulator.config import Settings, load_users
from sss_emulator.core.call import UPLOAD_DIR
from sss_emulator.core.outcome import RunOutcome
from sss_emulator.core.tokens import ANONYMOUS, Identity
from sss_emulator.errors import BadRequestForm, ConfigError, EmulatorError
from sss_emulator.fidelity.compare import local_observation
from sss_emulator.fidelity.normalise import (
    Normaliser,
    Rule,
    SideFacts,
    load_rules,
    outcome_normaliser,
)
from sss_emulator.fidelity.observed import Observed
from sss_emulator.fidelity.report import Report, compare_observed
from sss_emulator.invocation import Emulator

__all__ = ("ParsedCall", "call_to_script_args", "parse_call", "recorded_observation",
           "replay_case", "replay_file")


# --- call strings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedCall:
    """A ``call`` string taken apart: the script, its options in order, its positionals."""

    call: str
    options: tuple[tuple[str, str], ...]
    positionals: tuple[str, ...]
    notes: tuple[str, ...] = ()


def parse_call(text: str) -> ParsedCall:
    """``"minimal.bash --option2=x Positional0"`` → call, options, positionals.

    The server joins the call, then ``--name=value`` options, then positionals with single
    spaces, so a value holding a space cannot be told apart from two arguments: quote such
    arguments shell-style (``'x.py "--title=My report" pos'``). An ``--auth-token=…`` (it
    never is in a ``call``, but a log of argv may hold it) is dropped with a note.
    """
    try:
        words = shlex.split(text) if any(q in text for q in "'\"") else text.split()
    except ValueError as exc:
        raise BadRequestForm(f"The call {text!r} cannot be split into arguments ({exc}); "
                             "check its quotes.") from None
    if not words:
        raise BadRequestForm("The call is empty; give it as the response shows it, e.g. "
                             "--call 'minimal.bash --option2=x Positional0'.")
    call, rest = words[0], words[1:]
    options: list[tuple[str, str]] = []
    positionals: list[str] = []
    notes: list[str] = []
    for word in rest:
        if word.startswith("--auth-token="):
            notes.append("dropped --auth-token=…: the run gets a token of its own")
            continue
        if not positionals and word.startswith("--") and "=" in word and len(word) > 3:
            name, _, value = word[2:].partition("=")
            if name:
                options.append((name, value))
                continue
        positionals.append(word)
    return ParsedCall(call, tuple(options), tuple(positionals), tuple(notes))


def call_to_script_args(parsed: ParsedCall, uploads: Sequence[Path]) -> tuple[str, ...]:
    """``sss-emulate run`` arguments for a parsed call (``-Oname=value``, ``-pN value``).

    A value ``.upload_files/<name>`` becomes an upload of the file in ``uploads`` with that
    name; :class:`BadRequestForm` when none is given for it.
    """
    by_name = {Path(u).name: Path(u) for u in uploads}

    def value(text: str) -> str:
        if text.startswith(UPLOAD_DIR + "/"):
            name = text[len(UPLOAD_DIR) + 1:]
            if name not in by_name:
                raise BadRequestForm(f"The call passes the upload {text}; give that file with "
                                     f"--upload PATH (a file named {name}).")
            return "@" + str(by_name[name])
        return "@" + text if text.startswith("@") else text

    args = [f"-O{name}={value(v)}" for name, v in parsed.options]
    for index, positional in enumerate(parsed.positionals):
        args += [f"-p{index}", value(positional)]
    return tuple(args)


# --- replaying a call file ----------------------------------------------------------------------


def recorded_observation(case: CallCase) -> Observed:
    """A case's expectation read as one side of a comparison; unrecorded aspects are unknown."""
    expect = case.expect
    unknown = {"response_shape"}
    error = expect.get("error")
    if error is not None or expect.get("timed_out"):
        # a refusal: its status is known, its description was not recorded
        status = getattr(errors, str(error)).http_status if error is not None else 500
        return Observed(status=status, shared={}, shared_complete=True,
                        unknown=frozenset({*unknown, "error"}))
    for key, aspect in (("call", "call"), ("stdout_exact", "stdout"),
                        ("stderr_exact", "stderr")):
        if key not in expect:
            unknown.add(aspect)
    shared: dict[str, bytes | None] | None = None
    wanted = expect.get("shared_files")
    if wanted is None:
        unknown.add("shared_files")
    else:
        if isinstance(wanted, list):
            wanted = dict.fromkeys(wanted, True)
        shared = {name: (content.encode() if isinstance(content, str) else None)
                  for name, content in wanted.items() if content is not False}
    return Observed(
        status=200,
        code=int(expect.get("code", 0)),
        call=expect.get("call"),
        stdout=expect.get("stdout_exact"),
        stderr=expect.get("stderr_exact"),
        shared=shared,
        shared_complete=False,
        unknown=frozenset(unknown),
    )


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _env(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if isinstance(value, Mapping):
        return tuple((str(k), str(v)) for k, v in value.items())
    pairs = []
    for item in _list(value):
        key, sep, val = str(item).partition("=")
        if not sep or not key:
            raise ConfigError(f"{where}: env entry {item!r} is not KEY=VALUE")
        pairs.append((key, val))
    return tuple(pairs)


def _emulator_for(case: CallCase, base: Path, settings: Settings, where: str
                  ) -> tuple[Emulator, Identity]:
    """The case's own settings (paths relative to its file) on top of the command line's."""
    own = case.settings
    bin_dirs = (tuple(Path(os.path.normpath(base / str(p))) for p in _list(own["bin_dirs"]))
                if "bin_dirs" in own else settings.bin_dirs)
    if not bin_dirs:
        raise ConfigError(f"{where}: no bin dir; give --bin-dir or --profile, or bin_dirs in "
                          "the call file.")
    for folder in bin_dirs:
        if not folder.is_dir():
            raise ConfigError(f"{where}: bin dir {folder} does not exist.")
    home = (base / str(own["home"])).absolute() if "home" in own else settings.home
    users = load_users((base / str(own["users"])).absolute()) if "users" in own \
        else settings.users
    timeout = float(own["timeout"]) if "timeout" in own else settings.timeout
    env = settings.env + (_env(own["env"], where) if "env" in own else ())
    anonymous = bool(own.get("anonymous"))
    if anonymous:
        identity = ANONYMOUS
    else:
        name = str(own.get("user") or decisions.DEFAULT_USER)
        entry = users.users.get(name)
        roles = tuple(str(r) for r in _list(own["roles"])) if "roles" in own else (
            entry.roles if entry else ((decisions.DEFAULT_ADMIN_ROLE,)
                                       if name == decisions.DEFAULT_USER else ()))
        identity = Identity(name, entry.realm if entry else decisions.DEFAULT_REALM, roles)
    emulator = Emulator.from_settings(settings, bin_dirs=bin_dirs, home=home, users=users,
                                      timeout=timeout, env=env, anonymous=anonymous)
    return emulator, identity


def replay_case(case: CallCase, path: Path, settings: Settings,
                rules: Sequence[Rule] = ()) -> Report:
    """Run one case locally and compare it with its recorded answer."""
    where = f"{path} case {case.name!r}"
    all_rules = (*(load_rules(case.rules_file) if case.rules_file else ()), *rules)
    emulator, identity = _emulator_for(case, path.parent, settings, where)
    outcome: RunOutcome | None = None
    refusal: EmulatorError | None = None
    with emulator:
        try:
            outcome = emulator.run(case.request(), identity=identity)
        except EmulatorError as error:
            refusal = error
    local, srid = local_observation(outcome, refusal, identity)
    recorded = recorded_observation(case)
    recorded_norm = Normaliser(SideFacts(script_call=case.call), all_rules)
    local_norm = (outcome_normaliser(outcome, emulator.bin_dirs, all_rules, srid)
                  if outcome is not None else Normaliser(SideFacts(case.call), all_rules))
    roles = ", ".join(identity.roles) or "no roles"
    sources = (f"{path.name}", f"bin dir {', '.join(str(b) for b in emulator.bin_dirs)}; "
                               f"as {identity.name} ({roles})")
    return compare_observed(recorded, local, (recorded_norm, local_norm),
                            title=f"replay {path.name}: {case.name}",
                            labels=("recorded", "local"), sources=sources)


def replay_file(path: Path, settings: Settings, *, cases: Sequence[str] = (),
                rules: Sequence[Rule] = ()) -> list[Report]:
    """Replay every case of a call file (or those named in ``cases``)."""
    try:
        loaded = load_call_file(path)
    except CallFileError as exc:
        raise ConfigError(str(exc)) from None
    if cases:
        unknown = sorted(set(cases) - {c.name for c in loaded})
        if unknown:
            names = ", ".join(repr(c.name) for c in loaded)
            raise ConfigError(f"{path} has no case {', '.join(map(repr, unknown))}; its cases: "
                              f"{names}.")
        loaded = [c for c in loaded if c.name in cases]
    return [replay_case(case, path, settings, rules) for case in loaded]
