"""Call files: ``sss_*.yaml`` / ``sss_*.toml`` test cases that need no Python.

A file holds one case, or a list of them under ``tests`` with file-wide defaults beside it::

    bin_dirs: [../scripts]          # relative to this file; default: the configured bin dirs
    tests:
      - name: prints its call
        call: minimal.bash
        positionals: [Positional0]
        options: {option2: some-value}
        expect:
          code: 0
          stdout: ["--option2=some-value", "re:Positional\\d"]

Each case becomes a test item. A malformed file is one collection error naming the file, the
case and the key; a case whose run does not match reports what differs, with diffs.

``sss-emulate record`` writes these files from calls to a real server. Its expectations use
``expect.call`` (the response's ``<call>``) and ``expect.normalise: true`` (or a rule file's
path): ``*_exact``, ``call`` and shared file contents are then compared after both sides are
normalised as ``sss-emulate compare`` does (tokens, SHARED_DIR names, bin dir paths, …). A
``null`` in ``positionals`` leaves that index to an upload (``uploads: {-p0: form.json}``).
The pytest plugin and ``sss-emulate replay`` both read them through this module.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sss_emulator.core.call import CallRequest, FieldValue, Upload, request_from_form

__all__ = ("CASE_KEYS", "EXPECT_KEYS", "CallCase", "CallFileError", "Normalisers",
           "check_outcome", "is_call_file", "load_call_file")

_CALL_FILE = re.compile(r"sss_.*\.(ya?ml|toml)\Z")

#: Keys of one case; all but ``name``, ``call``, ``positionals``, ``options``, ``uploads`` and
#: ``expect`` may also stand at the top of the file as defaults for every case.
CASE_KEYS = ("name", "call", "positionals", "options", "uploads", "expect", "snapshot", "user",
             "roles", "anonymous", "timeout", "mode", "bin_dirs", "env", "home", "users")
_DEFAULT_KEYS = ("user", "roles", "anonymous", "timeout", "mode", "bin_dirs", "env", "home",
                 "users")
EXPECT_KEYS = ("code", "call", "stdout", "stderr", "stdout_exact", "stderr_exact",
               "shared_files", "error", "timed_out", "normalise")

#: A pair of normalisers: the expected side's and the actual run's (see ``expect.normalise``).
Normalisers = tuple[Callable[[str], str], Callable[[str], str]]


class CallFileError(Exception):
    """A call file cannot be read as test cases; the message names the file and the fix."""


def is_call_file(path: Path) -> bool:
    return bool(_CALL_FILE.match(path.name))


@dataclass(frozen=True)
class CallCase:
    """One case of a call file, checked for shape; ``settings`` go to the emulator."""

    name: str
    call: str
    positionals: tuple[str | None, ...]
    options: tuple[tuple[str, str], ...]
    uploads: tuple[tuple[str, Path], ...]
    expect: Mapping[str, Any]
    settings: Mapping[str, Any] = field(default_factory=dict)
    #: Compare stdout, stderr, the response and SHARED_DIR with ``__sss_snapshots__/``.
    snapshot: bool = False

    def request(self) -> CallRequest:
        """The request pylib would send: options, positionals (``None``: an upload's index),
        then the file parts with their base names."""
        fields: list[tuple[str, FieldValue]] = [("call", self.call)]
        fields += [(f"-O{name}", value) for name, value in self.options]
        fields += [(f"-p{i}", v) for i, v in enumerate(self.positionals) if v is not None]
        files = [(name, Upload(filename=path.name, source=path)) for name, path in self.uploads]
        return request_from_form(fields, files)

    @property
    def rules_file(self) -> Path | None:
        """The rule file ``expect.normalise`` names (absolute), if it names one."""
        value = self.expect.get("normalise")
        return Path(value) if isinstance(value, str) else None


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CallFileError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise CallFileError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8."
                            ) from None
    if path.suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise CallFileError(f"{path}: not valid TOML ({exc}); fix the file.") from None
        except RecursionError:
            raise CallFileError(f"{path}: nested too deeply to be a call file.") from None
    try:
        return yaml.safe_load(text)
    except RecursionError:  # [[[[…]]]]: the parser recurses once per level
        raise CallFileError(f"{path}: nested too deeply to be a call file.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CallFileError(f"{where}: not valid YAML ({problem}); fix the file.") from None


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _check_case(raw: Any, where: str, base: Path, defaults: Mapping[str, Any]) -> CallCase:
    if not isinstance(raw, Mapping):
        raise CallFileError(f"{where}: a case must be a mapping with at least 'call'")
    unknown = sorted(set(raw) - set(CASE_KEYS))
    if unknown:
        raise CallFileError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                            f"known: {', '.join(CASE_KEYS)}")
    call = raw.get("call")
    if not isinstance(call, str) or not call:
        raise CallFileError(f"{where}: 'call' must name the script to run, e.g. call: minimal.bash")
    positionals = raw.get("positionals", [])
    if isinstance(positionals, str) or not isinstance(positionals, Sequence) or not all(
            _scalar(v) or v is None for v in positionals):
        raise CallFileError(f"{where}: 'positionals' must be a list of texts or numbers (null "
                            "where an upload fills that index)")
    options = raw.get("options", {})
    if not isinstance(options, Mapping) or not all(_scalar(v) for v in options.values()):
        raise CallFileError(f"{where}: 'options' must map option names to texts or numbers")
    uploads = raw.get("uploads", {})
    if not isinstance(uploads, Mapping) or not all(isinstance(v, str) for v in uploads.values()):
        raise CallFileError(f"{where}: 'uploads' must map form fields (-p0, -Ofile) to file "
                            "paths relative to the call file")
    upload_paths = []
    for field_name, rel in uploads.items():
        source = (base / rel).absolute()
        if not source.is_file():
            raise CallFileError(f"{where}: upload {field_name} = {rel!r}: {source} is not a file")
        upload_paths.append((str(field_name), source))
    expect = raw.get("expect", {}) or {}
    if not isinstance(expect, Mapping):
        raise CallFileError(f"{where}: 'expect' must be a mapping ({', '.join(EXPECT_KEYS)})")
    expect = dict(expect)
    _check_expect(expect, where)
    if isinstance(expect.get("normalise"), str):
        expect["normalise"] = str(_rules_path(expect["normalise"], base, where))
    snapshot = raw.get("snapshot", False)
    if not isinstance(snapshot, bool):
        raise CallFileError(f"{where}: 'snapshot' must be true or false (compare the run with "
                            "__sss_snapshots__/; write them with pytest --sss-update-snapshots)")
    settings = {**defaults, **{k: raw[k] for k in _DEFAULT_KEYS if k in raw}}
    return CallCase(
        name=str(raw.get("name") or call),
        call=call,
        positionals=tuple(None if v is None else str(v) for v in positionals),
        options=tuple((str(k), str(v)) for k, v in options.items()),
        uploads=tuple(upload_paths),
        expect=dict(expect),
        settings=settings,
        snapshot=snapshot,
    )


def _patterns(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _check_expect(expect: Mapping[str, Any], where: str) -> None:
    unknown = sorted(set(expect) - set(EXPECT_KEYS))
    if unknown:
        raise CallFileError(f"{where}: unknown expect key(s) {', '.join(unknown)}; "
                            f"known: {', '.join(EXPECT_KEYS)}")
    code = expect.get("code", 0)
    if not isinstance(code, int) or isinstance(code, bool):
        raise CallFileError(f"{where}: expect.code must be a whole number, not {code!r}")
    for stream in ("stdout", "stderr"):
        patterns = _patterns(expect.get(stream, []))
        if patterns is None:
            raise CallFileError(f"{where}: expect.{stream} must be a text or a list of texts "
                                "(substrings; prefix 're:' for a regular expression)")
        for pattern in patterns:
            if pattern.startswith("re:"):
                try:
                    re.compile(pattern[3:])
                except re.error as exc:
                    raise CallFileError(f"{where}: expect.{stream} {pattern!r} is not a valid "
                                        f"regular expression ({exc})") from None
        exact = expect.get(f"{stream}_exact")
        if exact is not None and not isinstance(exact, str):
            raise CallFileError(f"{where}: expect.{stream}_exact must be a text")
    shared = expect.get("shared_files", {})
    if isinstance(shared, list):
        shared = dict.fromkeys(shared, True)
    if not isinstance(shared, Mapping) or not all(
            isinstance(v, str | bool) for v in shared.values()):
        raise CallFileError(f"{where}: expect.shared_files must list file names, or map them to "
                            "their exact content (or true)")
    call = expect.get("call")
    if call is not None and not isinstance(call, str):
        raise CallFileError(f"{where}: expect.call must be the response's call text, e.g. "
                            "'minimal.bash --option2=x Positional0'")
    normalise = expect.get("normalise", False)
    if not isinstance(normalise, bool | str):
        raise CallFileError(f"{where}: expect.normalise must be true, false or the path of a "
                            "rule file (REGEX => REPLACEMENT lines)")
    error = expect.get("error")
    if error is not None:
        from sss_emulator import errors

        if not isinstance(getattr(errors, str(error), None), type):
            raise CallFileError(f"{where}: expect.error {error!r} is not one of "
                                f"{', '.join(errors.__all__)}")


def _rules_path(value: str, base: Path, where: str) -> Path:
    """A rule file of ``expect.normalise``, relative to the call file, checked now."""
    from sss_emulator.errors import ConfigError
    from sss_emulator.fidelity.normalise import load_rules

    path = (base / value).absolute()
    try:
        load_rules(path)
    except ConfigError as exc:
        raise CallFileError(f"{where}: expect.normalise: {exc.message}") from None
    return path


def load_call_file(path: Path) -> list[CallCase]:
    """Every case of ``path``, or :class:`CallFileError` naming what is wrong."""
    data = _read(path)
    if data is None:
        raise CallFileError(f"{path}: the file is empty; write at least one case with 'call'")
    if not isinstance(data, Mapping):
        raise CallFileError(f"{path}: expected a mapping (one case, or 'tests' with a list)")
    base = path.parent
    if "tests" in data:
        unknown = sorted(set(data) - {"tests", *_DEFAULT_KEYS})
        if unknown:
            raise CallFileError(f"{path}: unknown top-level key(s) {', '.join(unknown)}; known: "
                                f"tests, {', '.join(_DEFAULT_KEYS)}")
        cases = data["tests"]
        if not isinstance(cases, list) or not cases:
            raise CallFileError(f"{path}: 'tests' must be a non-empty list of cases")
        defaults = {k: data[k] for k in _DEFAULT_KEYS if k in data}
        checked = [_check_case(raw, f"{path} case {i + 1}", base, defaults)
                   for i, raw in enumerate(cases)]
    else:
        checked = [_check_case(data, str(path), base, {})]
    names = [c.name for c in checked]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise CallFileError(f"{path}: case name(s) {', '.join(map(repr, duplicates))} used twice; "
                            "give each case its own 'name'")
    return checked


# --- checking a run against a case --------------------------------------------------------------


def _same(norms: Normalisers | None) -> Normalisers:
    return norms if norms is not None else (_identity, _identity)


def _identity(text: str) -> str:
    return text


def _stream_problems(name: str, text: str, expect: Mapping[str, Any],
                     norms: Normalisers | None = None) -> list[str]:
    problems = []
    for pattern in _patterns(expect.get(name, [])) or []:
        if pattern.startswith("re:"):
            if not re.search(pattern[3:], text):
                problems.append(f"{name}: no match for regular expression {pattern[3:]!r}")
        elif pattern not in text:
            problems.append(f"{name}: does not contain {pattern!r}")
    exact = expect.get(f"{name}_exact")
    wanted_norm, actual_norm = _same(norms)
    if exact is not None and wanted_norm(exact) != actual_norm(text):
        exact, text = wanted_norm(exact), actual_norm(text)
        shown = " (both normalised)" if norms is not None else ""
        problems.append(f"{name}: differs from {name}_exact{shown}:")
        problems += [line.rstrip("\n") for line in difflib.unified_diff(
            exact.splitlines(keepends=True), text.splitlines(keepends=True),
            fromfile=f"expected {name}", tofile=f"actual {name}")]
    return problems


def check_outcome(expect: Mapping[str, Any], code: int | None, timed_out: bool,
                  stdout: str, stderr: str, shared: Mapping[str, Path], *,
                  call: str | None = None, normalisers: Normalisers | None = None) -> list[str]:
    """What in a finished run differs from ``expect`` (empty when it matches).

    ``call`` is the run's ``<call>`` (checked against ``expect.call``); ``normalisers`` rewrite
    the expected and the actual texts before exact comparisons (``expect.normalise``).
    """
    problems = []
    wanted_norm, actual_norm = _same(normalisers)
    if expect.get("timed_out"):
        if not timed_out:
            problems.append(f"expected the run to time out, but it ended with code {code}")
    elif timed_out:
        problems.append("the run timed out")
    elif code != expect.get("code", 0):
        problems.append(f"code: expected {expect.get('code', 0)}, got {code}")
    wanted_call = expect.get("call")
    if wanted_call is not None and call is not None and \
            wanted_norm(wanted_call) != actual_norm(call):
        problems.append(f"call: expected {wanted_norm(wanted_call)!r}, got {actual_norm(call)!r}")
    problems += _stream_problems("stdout", stdout, expect, normalisers)
    problems += _stream_problems("stderr", stderr, expect, normalisers)
    wanted = expect.get("shared_files", {})
    if isinstance(wanted, list):
        wanted = dict.fromkeys(wanted, True)
    for name, content in wanted.items():
        if content is False:
            if name in shared:
                problems.append(f"shared file {name!r} should not exist")
        elif name not in shared:
            problems.append(f"shared file {name!r} missing; SHARED_DIR has: "
                            f"{', '.join(sorted(shared)) or 'nothing'}")
        elif isinstance(content, str):
            actual = actual_norm(shared[name].read_text(encoding="utf-8", errors="replace"))
            content = wanted_norm(content)
            if actual != content:
                problems.append(f"shared file {name!r} differs:")
                problems += [line.rstrip("\n") for line in difflib.unified_diff(
                    content.splitlines(keepends=True), actual.splitlines(keepends=True),
                    fromfile=f"expected {name}", tofile=f"actual {name}")]
    return problems
