"""What legitimately differs between two runs of one call, rewritten to placeholders.

A server run and a local run of the same call never print identical bytes: the token a script
gets, the random ``SHARED_DIR`` name, the absolute path of the bin dir (``$0``), the working
directory and every timestamp differ by design. Each side of a comparison gets its own
:class:`Normaliser`, built from what is known about that run (:class:`SideFacts`) and learned
from its output, so that both sides end up with the same placeholders. Users add their own
rules (a file of ``REGEX => REPLACEMENT`` lines) for what only they know about their server.

Pure: no I/O except :func:`load_rules`, which reads the rule file.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from sss_emulator.core.printed_tokens import TOKEN, redact_printed_tokens, token_parts
from sss_emulator.errors import ConfigError

if TYPE_CHECKING:
    from sss_emulator.core.outcome import RunOutcome

__all__ = (
    "BIN_DIR",
    "SHARED_DIR",
    "SHARED_NAME",
    "SRID",
    "TIMESTAMP",
    "TOKEN",
    "WORKDIR",
    "Normaliser",
    "Rule",
    "SideFacts",
    "linked_shared_files",
    "load_rules",
    "outcome_facts",
    "outcome_normaliser",
    "parse_rules",
)

BIN_DIR = "<BIN_DIR>"
SHARED_DIR = "<SHARED_DIR>"
SHARED_NAME = "<SHARED>"
WORKDIR = "<WORKDIR>"
SRID = "<SRID>"
TIMESTAMP = "<TIMESTAMP>"

#: A path segment as it appears in output: no whitespace, quotes, angle brackets or slash.
_SEGMENT = r"[^\s\"'<>/]+"
#: Nothing path-like may come right before an absolute path we recognise.
_PATH_START = r"(?<![\w.~/-])"
_PATH_END = r"(?![\w.-])"

#: A download link: ``/Shared/<random name>/<file>`` (the context root may precede it).
_SHARED_LINK = re.compile(r"/Shared/(" + _SEGMENT + r")/")
_SHARED_FILE_LINK = re.compile(r"/Shared/(" + _SEGMENT + r")/([^\s\"'<>?#]+)")

#: LinkAhead's token: a compact JSON array ``["S"|"O", realm, user, [roles], [perms], …]``.
_TOKEN_JSON = re.compile(
    r"\[\"[A-Z]\",\"(?:[^\"\\]|\\.)*\",\"(?:[^\"\\]|\\.)*\",\[[^\]]*\],\[[^\]]*\],[^\[\]]*\]"
)
_TOKEN_ARG = re.compile(r"--auth-token=\S+")
_TIMESTAMP = re.compile(
    r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?\b"
)


@dataclass(frozen=True)
class Rule:
    """One rewrite: every match of ``pattern`` becomes ``replacement`` (``\\1`` refers back)."""

    pattern: re.Pattern[str]
    replacement: str
    origin: str = ""

    def apply(self, text: str) -> str:
        return self.pattern.sub(self.replacement, text)

    def describe(self) -> str:
        where = f" ({self.origin})" if self.origin else ""
        return f"{self.pattern.pattern} => {self.replacement}{where}"


def parse_rules(text: str, source: str = "rules") -> tuple[Rule, ...]:
    """``REGEX => REPLACEMENT`` lines; ``#`` starts a comment line, blank lines are skipped.

    The separator is the last `` => `` of a line, so a regex may contain ``=>`` itself.

    >>> [r.describe() for r in parse_rules(r"/srv/work/\\w+ => <WORKDIR>")]
    ['/srv/work/\\\\w+ => <WORKDIR> (rules:1)']
    """
    rules = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pattern, sep, replacement = line.rpartition(" => ")
        where = f"{source}:{number}"
        if not sep or not pattern.strip():
            raise ConfigError(f"{where}: write one rule per line as REGEX => REPLACEMENT, "
                              f"not {stripped!r}.")
        try:
            compiled = re.compile(pattern.strip())
            compiled.sub(replacement.strip(), "")  # a bad group reference fails here
        except (re.error, IndexError) as exc:
            raise ConfigError(f"{where}: {pattern.strip()!r} is not a valid rule ({exc}); fix "
                              "the regular expression or the replacement.") from None
        rules.append(Rule(compiled, replacement.strip(), where))
    return tuple(rules)


def load_rules(path: Path) -> tuple[Rule, ...]:
    """The rules of a rule file; :class:`ConfigError` names the file (and line) on a problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot read the rule file {path} ({exc.strerror or exc}); check "
                          "the path.") from None
    return parse_rules(text, str(path))


@dataclass(frozen=True)
class SideFacts:
    """What is known about one run: values that differ between runs of the same call.

    Attributes:
        script_call: the ``call`` field (``administration/diagnostics.py``); an absolute path
            ending in it reveals the bin dir, even of a server whose layout is unknown.
        bin_dirs: absolute bin dir paths (known for local runs).
        shared_dirs: absolute SHARED_DIR paths; shared_names: their random last segments.
        workdirs: working directories (HOME); tokens: tokens the run was given or used;
        srids: request ids of the response; token_parts: checksums and salts of tokens the
        run printed in any form (:mod:`sss_emulator.core.printed_tokens`).
    """

    script_call: str = ""
    bin_dirs: tuple[str, ...] = ()
    shared_dirs: tuple[str, ...] = ()
    shared_names: tuple[str, ...] = ()
    workdirs: tuple[str, ...] = ()
    tokens: tuple[str, ...] = ()
    srids: tuple[str, ...] = ()
    token_parts: tuple[str, ...] = ()


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def _replace_path(text: str, path: str, placeholder: str) -> str:
    """``path`` (and anything below it) → ``placeholder``; ``/a/b`` leaves ``/a/bc`` alone."""
    path = path.rstrip("/")
    if not path:
        return text
    return re.sub(re.escape(path) + _PATH_END, lambda _: placeholder, text)


def linked_shared_files(text: str) -> list[tuple[str, str]]:
    """``(random name, file)`` of every ``/Shared/<name>/<file>`` link in ``text``, in order."""
    return list(dict.fromkeys((m.group(1), m.group(2).rstrip(".,;:)]"))
                              for m in _SHARED_FILE_LINK.finditer(text)))


@dataclass(frozen=True)
class Normaliser:
    """Rewrites one side's texts so that only real differences remain.

    In order: tokens (known ones, then anything shaped like a token or an ``--auth-token=``
    argument), download links' random names, SHARED_DIR paths and names, working directories,
    bin dir paths (known, or learned from an absolute path ending in the call), request ids,
    timestamps, and last the user's rules. Build it with :meth:`learned_from` so that what one
    text reveals (a link's random name in stdout) also applies to the others (a log file).

    >>> norm = Normaliser(SideFacts(script_call="minimal.bash")).learned_from(
    ...     ["/opt/srv/bin/minimal.bash --auth-token=[\\"S\\",\\"PAM\\"] x"])
    >>> norm("/opt/srv/bin/minimal.bash --auth-token=[\\"S\\",\\"PAM\\"] x")
    '<BIN_DIR>/minimal.bash --auth-token=<TOKEN> x'
    """

    facts: SideFacts = field(default_factory=SideFacts)
    rules: tuple[Rule, ...] = ()

    def learned_from(self, texts: Iterable[str]) -> Normaliser:
        """This normaliser plus the bin dir and SHARED_DIR names ``texts`` reveal."""
        texts = list(texts)
        names = [name for text in texts for name in _SHARED_LINK.findall(text)]
        bins: list[str] = []
        call = self.facts.script_call
        if call:
            pattern = re.compile(_PATH_START + r"((?:/" + _SEGMENT + r")+)/" + re.escape(call)
                                 + _PATH_END)
            bins = [m.group(1) for text in texts for m in pattern.finditer(text)]
        facts = replace(self.facts, shared_names=_unique([*self.facts.shared_names, *names]),
                        bin_dirs=_unique([*self.facts.bin_dirs, *bins]))
        return replace(self, facts=facts).with_token_parts_of(texts)

    def with_token_parts_of(self, texts: Iterable[str]) -> Normaliser:
        """This normaliser, also redacting the tokens ``texts`` print (a salt printed alone
        elsewhere included); for texts that reveal nothing else worth learning."""
        parts = _unique([*self.facts.token_parts, *token_parts(texts)])
        return replace(self, facts=replace(self.facts, token_parts=parts))

    def __call__(self, text: str) -> str:
        facts = self.facts
        for token in sorted(_unique(facts.tokens), key=len, reverse=True):
            text = text.replace(token, TOKEN).replace(quote(token, safe=""), TOKEN)
        text = _TOKEN_JSON.sub(TOKEN, text)
        text = _TOKEN_ARG.sub("--auth-token=" + TOKEN, text)
        text = redact_printed_tokens(text, facts.token_parts)
        text = _SHARED_LINK.sub(f"/Shared/{SHARED_NAME}/", text)
        for path in sorted(_unique(facts.shared_dirs), key=len, reverse=True):
            text = _replace_path(text, path, SHARED_DIR)
        for name in facts.shared_names:
            # where the server keeps SHARED_DIR is unknown; any absolute path ending in the
            # random name is it
            text = re.sub(_PATH_START + r"(?:/" + _SEGMENT + r")*/" + re.escape(name)
                          + _PATH_END, SHARED_DIR, text)
            text = re.sub(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])",
                          lambda _: SHARED_NAME, text)
        for path in sorted(_unique(facts.workdirs), key=len, reverse=True):
            text = _replace_path(text, path, WORKDIR)
        for path in sorted(_unique(facts.bin_dirs), key=len, reverse=True):
            text = _replace_path(text, path, BIN_DIR)
        for srid in _unique(facts.srids):
            text = text.replace(srid, SRID)
        text = _TIMESTAMP.sub(TIMESTAMP, text)
        for rule in self.rules:
            text = rule.apply(text)
        return text

    def describe(self) -> list[str]:
        """What this normaliser rewrites, for the report."""
        lines = [f"auth tokens in any printed form ({TOKEN})",
                 f"SHARED_DIR names and paths ({SHARED_NAME}, {SHARED_DIR})",
                 f"working directory ({WORKDIR})", f"bin dir paths ({BIN_DIR})",
                 f"request ids ({SRID})", f"ISO timestamps ({TIMESTAMP})"]
        lines += [f"your rule {rule.describe()}" for rule in self.rules]
        return lines


def _paths(paths: Iterable[Path]) -> tuple[str, ...]:
    """Each path as given and resolved (``/tmp`` may be a symlink; scripts see either)."""
    found: list[str] = []
    for path in paths:
        found.append(str(path))
        with contextlib.suppress(OSError):
            found.append(str(path.resolve()))
    return _unique(found)


def outcome_facts(outcome: RunOutcome, bin_dirs: Iterable[Path],
                  srid: str | None = None) -> SideFacts:
    """What is known about a local run: its bin dirs, SHARED_DIR, working dir and token."""
    return SideFacts(
        script_call=outcome.script_call,
        bin_dirs=_paths(bin_dirs),
        shared_dirs=_paths([outcome.shared_dir]),
        shared_names=(outcome.shared_dir.name,),
        workdirs=_paths([outcome.workdir]),
        tokens=(outcome.token,) if outcome.token else (),
        srids=(srid,) if srid else (),
    )


def outcome_normaliser(outcome: RunOutcome, bin_dirs: Iterable[Path],
                       rules: Sequence[Rule] = (), srid: str | None = None) -> Normaliser:
    """The normaliser of a local run, having learned from its own output."""
    return Normaliser(outcome_facts(outcome, bin_dirs, srid), tuple(rules)).learned_from(
        [outcome.stdout_text, outcome.stderr_text, outcome.call])
