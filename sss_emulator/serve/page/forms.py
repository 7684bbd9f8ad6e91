"""Web forms for scripts: the generic one, and ``form_elements``-style configs beside a script.

A script author who ships a form with the LinkAhead web UI describes it as a config of fields
(the webui's ``form_elements`` module). Placing the same config as ``<script>.form.json`` next
to the script lets the page show the form the users will see. Loading and validating the config
and turning it into HTML are pure functions here; the page module only serves the result.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

__all__ = (
    "FIELD_TYPES",
    "FormConfig",
    "FormConfigError",
    "FormField",
    "config_path_for",
    "load_form_config",
    "parse_form_config",
    "render_config_fields",
)

logger = logging.getLogger("sss_emulator.serve.page.forms")

#: The field types a config may use, as the webui's ``form_elements`` knows them.
FIELD_TYPES = ("text", "integer", "double", "date", "checkbox", "select", "file")

#: The suffix of a form config beside its script (``handle_csv.py.form.json``).
CONFIG_SUFFIX = ".form.json"
#: The largest form config read: a form of a few dozen fields is a few KiB, and every page
#: listing the scripts reads each config, so a huge file must not stall it.
MAX_CONFIG_BYTES = 1024 * 1024

_INPUT_TYPES = {"text": "text", "integer": "number", "double": "number", "date": "date",
                "checkbox": "checkbox", "file": "file"}


class FormConfigError(ValueError):
    """A ``.form.json`` the page cannot use; the message names the file and the fix."""


@dataclass(frozen=True)
class FormField:
    """One field of a config-driven form."""

    type: str
    name: str
    label: str
    required: bool = False
    help: str = ""
    accept: str = ""
    options: tuple[tuple[str, str], ...] = ()  # (value, label) of a select
    value: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)  # min, max, step, placeholder


@dataclass(frozen=True)
class FormConfig:
    """A whole config: which script it posts to and its fields in order."""

    script: str
    fields: tuple[FormField, ...]
    title: str = ""
    description: str = ""
    source: Path | None = None


def config_path_for(script_path: Path) -> Path:
    """Where a script's form config lives: right beside it."""
    return script_path.with_name(script_path.name + CONFIG_SUFFIX)


def load_form_config(script_path: Path, call: str) -> FormConfig | None:
    """The config beside ``script_path``, ``None`` if there is none.

    Raises :class:`FormConfigError` for a file that is not valid JSON or not a valid config, so
    the page can say what to fix instead of silently showing the generic form.
    """
    path = config_path_for(script_path)
    if not path.is_file():
        return None
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise FormConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB, which no "
                                  "form needs; shorten it.")
        data = json.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise FormConfigError(f"{path}: cannot be read ({exc}); check its permissions.") from exc
    except json.JSONDecodeError as exc:
        raise FormConfigError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "fix the syntax."
        ) from exc
    except RecursionError:  # [[[[…]]]]: json recurses once per level
        raise FormConfigError(f"{path}: nested too deeply to be a form config; fix it.") from None
    return parse_form_config(data, call, source=path)


def _text(item: Mapping[str, Any], key: str, where: str, default: str = "") -> str:
    value = item.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FormConfigError(f"{where}: {key!r} must be text, not {value!r}.")
    return str(value)


def _options(item: Mapping[str, Any], where: str) -> tuple[tuple[str, str], ...]:
    raw = item.get("options")
    if not isinstance(raw, list) or not raw:
        raise FormConfigError(
            f"{where}: a select needs 'options', a list like [\"a\", \"b\"] or "
            "[{\"value\": \"a\", \"label\": \"A\"}]."
        )
    options = []
    for option in raw:
        if isinstance(option, Mapping) and "value" in option:
            value = str(option["value"])
            options.append((value, str(option.get("label", value))))
        elif isinstance(option, str | int | float) and not isinstance(option, bool):
            options.append((str(option), str(option)))
        else:
            raise FormConfigError(f"{where}: option {option!r} is neither text nor "
                                  "{\"value\": …, \"label\": …}.")
    return tuple(options)


def _field(item: Any, index: int, source: str) -> FormField:
    where = f"{source}: field {index + 1}"
    if not isinstance(item, Mapping):
        raise FormConfigError(f"{where} is not an object with 'type' and 'name'.")
    kind = _text(item, "type", where)
    if kind not in FIELD_TYPES:
        raise FormConfigError(
            f"{where}: type {kind!r} is not supported; use one of {', '.join(FIELD_TYPES)}."
        )
    name = _text(item, "name", where)
    if not name or name == "call" or name.startswith("-"):
        raise FormConfigError(
            f"{where}: name {name!r} cannot be used; give a plain name such as 'csvfile' "
            "(not empty, not 'call', not starting with '-')."
        )
    extra = {key: _text(item, key, where) for key in ("min", "max", "step", "placeholder")
             if item.get(key) is not None}
    if kind == "double":
        extra.setdefault("step", "any")
    return FormField(
        type=kind,
        name=name,
        label=_text(item, "label", where, default=name) or name,
        required=bool(item.get("required", False)),
        help=_text(item, "help", where),
        accept=_text(item, "accept", where),
        options=_options(item, where) if kind == "select" else (),
        value=_text(item, "value", where),
        extra=extra,
    )


def parse_form_config(data: Any, call: str, *, source: Path | None = None) -> FormConfig:
    """Validate a decoded config; ``script`` may be left out and then means ``call``."""
    label = str(source) if source else "form config"
    if not isinstance(data, Mapping):
        raise FormConfigError(f"{label}: expected an object with 'fields', got {data!r:.60}.")
    script = _text(data, "script", label, default=call) or call
    if script != call:
        raise FormConfigError(
            f"{label}: 'script' is {script!r} but the file sits beside {call!r}; make them match."
        )
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise FormConfigError(f"{label}: 'fields' must be a non-empty list of field objects.")
    fields = tuple(_field(item, i, label) for i, item in enumerate(raw_fields))
    seen: set[str] = set()
    for item in fields:
        if item.name in seen:
            raise FormConfigError(f"{label}: two fields are named {item.name!r}; rename one.")
        seen.add(item.name)
    return FormConfig(
        script=script,
        fields=fields,
        title=_text(data, "title", label),
        description=_text(data, "description", label),
        source=source,
    )


def _attrs(pairs: Sequence[tuple[str, str | None]]) -> str:
    return "".join(f' {k}="{escape(v)}"' if v != "" else f" {k}" for k, v in pairs
                   if v is not None)


def _render_field(item: FormField, index: int) -> str:
    ident = f"cf-{index}"
    help_id = f"{ident}-help"
    described = help_id if item.help else None
    required = "" if item.required else None
    marker = ' <span class="required">(required)</span>' if item.required else ""
    label = f'<label for="{ident}">{escape(item.label)}{marker}</label>'
    common: list[tuple[str, str | None]] = [
        ("id", ident), ("name", item.name), ("data-kind", item.type),
        ("aria-describedby", described), ("required", required),
    ]
    if item.type == "select":
        options = "".join(
            f'<option value="{escape(v)}"{" selected" if v == item.value else ""}>'
            f"{escape(text)}</option>"
            for v, text in item.options
        )
        placeholder = "" if item.required and item.value else '<option value="">—</option>'
        control = f"<select{_attrs(common)}>{placeholder}{options}</select>"
    else:
        pairs = [("type", _INPUT_TYPES[item.type]), *common]
        if item.type == "integer":
            pairs.append(("step", item.extra.get("step", "1")))
        pairs += [(k, v) for k, v in item.extra.items() if not (k == "step"
                                                                and item.type == "integer")]
        if item.type == "file" and item.accept:
            pairs.append(("accept", _accept(item.accept)))
        if item.type == "checkbox":
            pairs.append(("checked", "" if item.value.lower() in ("true", "1", "on") else None))
        elif item.type != "file" and item.value:
            pairs.append(("value", item.value))
        control = f"<input{_attrs(pairs)}>"
    help_text = f'<p class="help" id="{help_id}">{escape(item.help)}</p>' if item.help else ""
    if item.type == "checkbox":
        return (f'<div class="field field-checkbox">{control} {label}{help_text}</div>')
    return f'<div class="field">{label}{control}{help_text}</div>'


def _accept(accept: str) -> str:
    """The webui's ``*.csv`` → the browser's ``.csv`` (``accept`` wants extensions or types)."""
    parts = [p.strip() for p in accept.split(",") if p.strip()]
    return ",".join(p[1:] if p.startswith("*.") else p for p in parts)


def render_config_fields(config: FormConfig) -> str:
    """The HTML of a config's fields, each with its label and help text."""
    return "\n".join(_render_field(item, i) for i, item in enumerate(config.fields))
