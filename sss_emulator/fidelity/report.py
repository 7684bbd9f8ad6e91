"""Two observations of one call → a report of where they differ, as text or versioned JSON.

Pure: :func:`compare_observed` normalises each side with its own
:class:`~sss_emulator.fidelity.normalise.Normaliser` and compares aspect by aspect (HTTP status,
exit code, ``call``, stdout, stderr, the error text, shared files, the response's shape);
:meth:`Report.to_text` lays differing texts side by side, :meth:`Report.to_dict` is the
``--format json`` document.
"""

from __future__ import annotations

import difflib
import hashlib
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sss_emulator.fidelity.normalise import Normaliser, linked_shared_files
from sss_emulator.fidelity.observed import Observed

__all__ = ("ASPECTS", "REPORT_SCHEMA", "Aspect", "Report", "compare_observed", "side_by_side")

#: The ``schema`` of a report's JSON; bump the suffix on breaking changes.
REPORT_SCHEMA = "sss-emulator/compare/v1"

#: Aspect keys in report order, with the title the text report shows.
ASPECTS: dict[str, str] = {
    "status": "HTTP status",
    "code": "exit code",
    "call": "call",
    "stdout": "stdout",
    "stderr": "stderr",
    "error": "error",
    "shared_files": "shared files",
    "response_shape": "response shape",
}

_MULTILINE = ("stdout", "stderr", "error", "shared_files", "response_shape")


@dataclass(frozen=True)
class Aspect:
    """One compared aspect: both sides after normalisation (``None``: there was none)."""

    name: str
    equal: bool
    left: str | None
    right: str | None
    note: str = ""

    @property
    def title(self) -> str:
        return ASPECTS.get(self.name, self.name)

    def unified_diff(self, labels: tuple[str, str]) -> list[str]:
        """The difference as unified-diff lines (empty when equal)."""
        if self.equal:
            return []
        return [line.rstrip("\n") for line in difflib.unified_diff(
            _lines(self.left), _lines(self.right), fromfile=labels[0], tofile=labels[1],
            lineterm="")]


def _lines(text: str | None) -> list[str]:
    return [] if text is None else text.splitlines()


@dataclass(frozen=True)
class Report:
    """Where two runs of one call differ.

    Attributes:
        title: the call (as the response's ``<call>`` shows it, or the call file case).
        labels: what the two sides are (``("server", "local")``, ``("recorded", "local")``).
        sources: one line per side saying where it ran.
        aspects: every aspect, compared or skipped (see ``skipped``).
        skipped: aspects one side does not know, with the reason.
        normalisation: what was rewritten before comparing.
        notes: anything else a reader should know (files not compared, …).
    """

    title: str
    labels: tuple[str, str]
    sources: tuple[str, str]
    aspects: tuple[Aspect, ...]
    skipped: Mapping[str, str] = field(default_factory=dict)
    normalisation: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def equal(self) -> bool:
        return all(aspect.equal for aspect in self.aspects)

    @property
    def differences(self) -> list[str]:
        """The names of the aspects that differ."""
        return [aspect.name for aspect in self.aspects if not aspect.equal]

    def to_dict(self) -> dict[str, Any]:
        """The report as the ``--format json`` document (``schema`` is :data:`REPORT_SCHEMA`)."""
        return {
            "schema": REPORT_SCHEMA,
            "title": self.title,
            "equal": self.equal,
            "differences": self.differences,
            "sides": {"left": self.labels[0], "right": self.labels[1]},
            "sources": {"left": self.sources[0], "right": self.sources[1]},
            "aspects": [
                {"name": a.name, "equal": a.equal, "left": a.left, "right": a.right,
                 "note": a.note or None, "diff": a.unified_diff(self.labels)}
                for a in self.aspects
            ],
            "skipped": dict(self.skipped),
            "normalisation": list(self.normalisation),
            "notes": list(self.notes),
        }

    def to_text(self, width: int = 100) -> str:
        """A readable report: one line per equal aspect, differing texts side by side."""
        left, right = self.labels
        lines = [f"{self.title}",
                 f"  {left:<8} {self.sources[0]}",
                 f"  {right:<8} {self.sources[1]}"]
        if self.normalisation:
            lines += textwrap.wrap(", ".join(self.normalisation), max(40, width - 2),
                                   initial_indent="  normalised: ",
                                   subsequent_indent="    ", break_on_hyphens=False)
        lines.append("")
        for aspect in self.aspects:
            lines.extend(_aspect_lines(aspect, self.labels, width))
        for name, reason in self.skipped.items():
            lines.append(f"  {ASPECTS.get(name, name):<15} not compared: {reason}")
        for note in self.notes:
            lines.append(f"  note: {note}")
        lines.append("")
        differences = [ASPECTS.get(n, n) for n in self.differences]
        if differences:
            count = len(differences)
            lines.append(f"{count} difference{'s' if count != 1 else ''}: "
                         f"{', '.join(differences)}.")
        else:
            lines.append("no difference.")
        return "\n".join(lines)


# --- text rendering ---------------------------------------------------------------------------


def _summary(text: str | None) -> str:
    if text is None:
        return "(none)"
    if text == "":
        return "(empty)"
    first = text.splitlines()[0] if text.splitlines() else text
    more = len(text.splitlines()) - 1
    shown = first if len(first) <= 60 else first[:59] + "…"
    return shown + (f"  (+{more} more line{'s' if more != 1 else ''})" if more > 0 else "")


def _aspect_summary(aspect: Aspect) -> str:
    if aspect.name == "shared_files":
        names = [line[3:] for line in (aspect.left or "").splitlines() if line.startswith("== ")]
        return ", ".join(names) if names else "(none)"
    if aspect.name == "response_shape" and aspect.left is not None:
        count = len(aspect.left.splitlines())
        return f"{count} elements, same attributes"
    return _summary(aspect.left)


def _aspect_lines(aspect: Aspect, labels: tuple[str, str], width: int) -> list[str]:
    head = f"  {aspect.title:<15}"
    if aspect.equal:
        return [f"{head} same      {_aspect_summary(aspect)}"]
    if aspect.name not in _MULTILINE and "\n" not in (aspect.left or "") + (aspect.right or ""):
        return [f"{head} DIFFERS   {labels[0]}: {_summary(aspect.left)}",
                f"{'':<17} {'':<9} {labels[1]}: {_summary(aspect.right)}"]
    lines = [f"{head} DIFFERS" + (f"   ({aspect.note})" if aspect.note else "")]
    lines.extend(side_by_side(aspect.left, aspect.right, labels, width))
    return lines


def _visible(line: str) -> str:
    """Trailing blanks made visible (``·``), tabs as ``→``: they are often the difference."""
    body = line.rstrip(" \t")
    tail = line[len(body):].replace(" ", "·").replace("\t", "→")
    return body.replace("\t", "→") + tail


def _wrap(line: str, width: int) -> list[str]:
    """``line`` in pieces of ``width``; each continuation starts with ``↪``."""
    if len(line) <= width:
        return [line]
    pieces, rest = [line[:width]], line[width:]
    while rest:
        pieces.append("↪" + rest[:width - 1])
        rest = rest[width - 1:]
    return pieces


def side_by_side(left: str | None, right: str | None, labels: tuple[str, str],
                 width: int = 100, context: int = 2) -> list[str]:
    """``left`` and ``right`` in two columns, sdiff style: ``|`` changed, ``<`` only left,
    ``>`` only right; runs of equal lines beyond ``context`` are folded."""
    column = max(20, (width - 9) // 2)
    a = [_visible(x) for x in _lines(left)]
    b = [_visible(x) for x in _lines(right)]
    if left is not None and right is not None and left != right and a == b:
        # the texts differ only in line endings
        a = [repr(x)[1:-1] for x in (left.splitlines(keepends=True))]
        b = [repr(x)[1:-1] for x in (right.splitlines(keepends=True))]
    if left is None:
        a = ["(none)"]
    if right is None:
        b = ["(none)"]
    rows = [f"      {labels[0]:<{column}}   {labels[1]}"]

    def emit(x: str, mark: str, y: str) -> None:
        xs, ys = _wrap(x, column), _wrap(y, column)
        for index in range(max(len(xs), len(ys))):
            xi = xs[index] if index < len(xs) else ""
            yi = ys[index] if index < len(ys) else ""
            rows.append(f"      {xi:<{column}} {mark if index == 0 else ' '} {yi}".rstrip())

    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for group_index, group in enumerate(matcher.get_grouped_opcodes(context)):
        if group_index:
            rows.append(f"      {'⋮':<{column}}   ⋮")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for x, y in zip(a[i1:i2], b[j1:j2], strict=True):
                    emit(x, " ", y)
            elif tag == "replace":
                for offset in range(max(i2 - i1, j2 - j1)):
                    x = a[i1 + offset] if i1 + offset < i2 else ""
                    y = b[j1 + offset] if j1 + offset < j2 else ""
                    mark = "|" if i1 + offset < i2 and j1 + offset < j2 else (
                        "<" if i1 + offset < i2 else ">")
                    emit(x, mark, y)
            elif tag == "delete":
                for x in a[i1:i2]:
                    emit(x, "<", "")
            else:
                for y in b[j1:j2]:
                    emit("", ">", y)
    return rows


# --- comparing ----------------------------------------------------------------------------------


def _text_of(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text


def _linked_names(observed: Observed) -> set[str]:
    texts = [observed.stdout or "", observed.stderr or ""]
    return {name for text in texts for _, name in linked_shared_files(text)}


def _shared_listing(names: list[str], files: Mapping[str, bytes | None],
                    other: Mapping[str, bytes | None], norm: Callable[[str], str]) -> str:
    blocks = []
    for name in names:
        if name not in files:
            continue
        data, peer = files[name], other.get(name)
        if data is None or (name in other and peer is None):
            blocks.append(f"== {name}")
            continue
        text = _text_of(data)
        if text is None:
            digest = hashlib.sha256(data).hexdigest()[:16]
            blocks.append(f"== {name} (binary, {len(data)} bytes, sha256 {digest}…)")
        else:
            blocks.append(f"== {name}\n{norm(text)}".rstrip("\n"))
    return "\n".join(blocks)


def _compare_shared(left: Observed, right: Observed, norms: tuple[Normaliser, Normaliser],
                    labels: tuple[str, str]) -> tuple[Aspect, list[str]]:
    assert left.shared is not None and right.shared is not None
    files = [dict(left.shared), dict(right.shared)]
    notes: list[str] = []
    if not (left.shared_complete and right.shared_complete):
        # One side only knows the files its output links to; compare like with like: the
        # other side's linked files, and those both sides have.
        for index, observed in enumerate((left, right)):
            if not observed.shared_complete:
                continue
            kept = _linked_names(observed) | set(files[1 - index])
            dropped = sorted(set(files[index]) - kept)
            files[index] = {k: v for k, v in files[index].items() if k in kept}
            if dropped:
                notes.append(f"{labels[index]} also left {', '.join(dropped)} in SHARED_DIR "
                             f"(not compared: {labels[1 - index]} only shows linked files)")
    names = sorted(set(files[0]) | set(files[1]))
    texts = (_shared_listing(names, files[0], files[1], norms[0]),
             _shared_listing(names, files[1], files[0], norms[1]))
    only = [n for n in names if (n in files[0]) != (n in files[1])]
    note = f"only on one side: {', '.join(only)}" if only else ""
    return Aspect("shared_files", texts[0] == texts[1], texts[0], texts[1], note), notes


def _value(observed: Observed, name: str, norm: Callable[[str], str]) -> str | None:
    raw: object = {
        "status": observed.status,
        "code": observed.code,
        "call": observed.call,
        "stdout": observed.stdout,
        "stderr": observed.stderr,
        "error": observed.error,
        "response_shape": "\n".join(observed.shape) if observed.shape is not None else None,
    }[name]
    if raw is None:
        return None
    text = str(raw)
    return norm(text) if name in ("call", "stdout", "stderr", "error") else text


def compare_observed(
    left: Observed,
    right: Observed,
    norms: tuple[Normaliser, Normaliser],
    *,
    title: str,
    labels: tuple[str, str] = ("server", "local"),
    sources: tuple[str, str] = ("", ""),
) -> Report:
    """Compare two observations aspect by aspect, each side normalised by its own normaliser.

    An aspect either side does not know (``Observed.unknown``) is skipped and listed as such.
    """
    aspects: list[Aspect] = []
    skipped: dict[str, str] = {}
    notes: list[str] = []
    for name in ASPECTS:
        missing = [labels[i] for i, o in enumerate((left, right)) if name in o.unknown]
        if missing:
            skipped[name] = f"{' and '.join(missing)} did not record it"
            continue
        if name == "shared_files":
            if left.shared is None or right.shared is None:
                if left.shared is not None or right.shared is not None:
                    skipped[name] = "only one side's files are known"
                continue
            aspect, more = _compare_shared(left, right, norms, labels)
            aspects.append(aspect)
            notes.extend(more)
            continue
        a, b = _value(left, name, norms[0]), _value(right, name, norms[1])
        aspects.append(Aspect(name, a == b, a, b))
    return Report(
        title=title,
        labels=labels,
        sources=sources,
        aspects=tuple(aspects),
        skipped=skipped,
        normalisation=tuple(norms[1].describe()),
        notes=tuple(notes),
    )
