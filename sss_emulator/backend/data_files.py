"""Seed the store from files users already have, reporting problems as ``file:line: what``.

Three formats:

* ``.xml``: a ``<Response>`` of entities as the server returns them (ids kept);
* ``.yml``/``.yaml`` holding a mapping: the caosadvancedtools data model (``model.yml``:
  RecordTypes and Properties, ``obligatory_properties`` …, ``inherit_from_*``);
* ``.yml``/``.yaml``/``.json`` holding a list: simple records (``parents``, ``properties``).
  Parents and properties that do not exist yet are created (a RecordType; a Property whose
  datatype follows the value's type) so a test can seed data without writing a model first.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import yaml
from lxml import etree

from sss_emulator.backend.entity_xml import parse_entity
from sss_emulator.backend.journal import StoreWriteError
from sss_emulator.backend.model import (
    ROLES,
    Entity,
    EntityWriter,
    ParentRef,
    PropertyValue,
    Value,
    is_reference_datatype,
)

__all__ = ["DataFileError", "load_data_file"]

_LINE = "__line__"
_MODEL_KEYWORDS = frozenset(
    {
        "importance", "datatype", "unit", "description", "recommended_properties",
        "obligatory_properties", "suggested_properties", "inherit_from_recommended",
        "inherit_from_suggested", "inherit_from_obligatory", "role", "value",
    }
)  # fmt: skip
_IMPORTANCE = {
    "obligatory_properties": "OBLIGATORY",
    "recommended_properties": "RECOMMENDED",
    "suggested_properties": "SUGGESTED",
}
_RECORD_KEYS = frozenset(
    {"role", "id", "name", "description", "parents", "parent", "properties", "datatype", "unit",
     "path", "file", "value"}
)  # fmt: skip


class DataFileError(ValueError):
    """A data file that does not parse or does not resolve; the message starts ``file:line:``."""

    def __init__(self, path: Path, line: int | None, what: str) -> None:
        super().__init__(f"{path}:{line if line is not None else 1}: {what}")
        self.path = path
        self.line = line
        self.what = what


def load_data_file(store: EntityWriter, path: Path) -> list[Entity]:
    """Insert a data file's entities into ``store`` (all or nothing) and return them."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataFileError(path, None, f"cannot read the file: {err.strerror}") from err
    suffix = path.suffix.lower()
    lines: dict[int, int | None] = {}  # id(draft) -> line, for error messages
    if suffix == ".xml":
        drafts = _xml_drafts(path, raw, lines)
    elif suffix in (".yml", ".yaml", ".json"):
        data = _load_structured(path, raw, is_json=suffix == ".json")
        if isinstance(data, dict):
            drafts = _ModelReader(path, store, lines).read(data)
        elif isinstance(data, list):
            drafts = _RecordsReader(path, store, lines).read(data)
        else:
            raise DataFileError(path, 1, "expected a mapping (a data model) or a list of records")
    else:
        raise DataFileError(
            path, None, f"unknown data file type {suffix!r}; use .xml, .yml, .yaml or .json"
        )
    draft_lines = [lines.get(id(d)) for d in drafts]
    try:
        answers, ok = store.insert(drafts, unique_names=False, keep_ids=True,
                                   record_changes=False)
    except StoreWriteError as err:  # the store's file could not take them: nothing was loaded
        raise DataFileError(path, None, str(err)) from err
    if not ok:
        for draft, line in zip(answers, draft_lines, strict=True):
            problem = _describe_errors(draft)
            if problem:
                raise DataFileError(path, line, f"{_label(draft)}: {problem}")
    return answers


# --------------------------------------------------------------------- XML
def _xml_drafts(path: Path, raw: bytes, lines: dict[int, int | None]) -> list[Entity]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(raw, parser=parser)
    except etree.XMLSyntaxError as err:
        raise DataFileError(path, err.lineno, f"not well-formed XML: {err.msg}") from err
    drafts: list[Entity] = []
    for elem in root.iter(*ROLES):
        if elem.getparent() is not root:
            continue
        draft = parse_entity(elem)
        lines[id(draft)] = elem.sourceline
        drafts.append(draft)
    if not drafts and root.tag in ROLES:
        draft = parse_entity(root)
        lines[id(draft)] = root.sourceline
        drafts.append(draft)
    _attach_contents(path, drafts)
    return drafts


def _attach_contents(path: Path, drafts: list[Entity]) -> None:
    """File contents saved beside an XML seed (``seed.xml`` -> ``seed.files/<path>``, as
    ``sss-emulate pull --files`` writes them) become the Files' contents."""
    folder = path.with_name(path.stem + ".files")
    if not folder.is_dir():
        return
    base = folder.resolve()
    for draft in drafts:
        if draft.role != "File" or not draft.path:
            continue
        source = (folder / draft.path.lstrip("/")).resolve()
        if source.is_relative_to(base) and source.is_file():
            try:
                draft.upload = source.read_bytes()
            except OSError as err:
                raise DataFileError(path, None, f"cannot read the contents of {draft.path} "
                                    f"({source}): {err.strerror}") from err


# --------------------------------------------------------------------- YAML / JSON
class _LineLoader(yaml.SafeLoader):
    """Adds ``__line__`` (1-based) to every mapping so errors can point into the file."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping = super().construct_mapping(node, deep=deep)
        mapping[_LINE] = node.start_mark.line + 1
        return mapping


def _load_structured(path: Path, raw: bytes, *, is_json: bool) -> Any:
    text = raw.decode("utf-8", errors="replace")
    if is_json:
        try:
            json.loads(text)
        except json.JSONDecodeError as err:
            raise DataFileError(path, err.lineno, f"not valid JSON: {err.msg}") from err
        except RecursionError:
            raise DataFileError(path, None, "nested too deeply") from None
    try:
        return yaml.load(text, Loader=_LineLoader)
    except RecursionError:  # [[[[…]]]]: the parser recurses once per level
        raise DataFileError(path, None, "nested too deeply") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else None
        raise DataFileError(path, line, f"not valid YAML: {err.problem or err}") from err


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return str(value)


def _value(value: Any) -> Value:
    if isinstance(value, list):
        return [_text(v) for v in value]
    return _text(value)


def _infer_datatype(value: Any) -> str:
    if isinstance(value, list):
        inner = {_infer_datatype(v) for v in value if v is not None}
        return f"LIST<{inner.pop() if len(inner) == 1 else 'TEXT'}>"
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "INTEGER"
    if isinstance(value, float):
        return "DOUBLE"
    if isinstance(value, datetime.date):
        return "DATETIME"
    return "TEXT"


def _line_of(node: Any, default: int | None) -> int | None:
    return node.get(_LINE, default) if isinstance(node, dict) else default


class _ModelReader:
    """caosadvancedtools' model.yml: each top-level name is a RecordType, or a Property if it
    has a ``datatype``; properties named under ``*_properties`` may be defined in place."""

    def __init__(self, path: Path, store: EntityWriter, lines: dict[int, int | None]) -> None:
        self.path = path
        self.store = store
        self.lines = lines
        self.drafts: dict[str, Entity] = {}
        self.order: list[str] = []
        self.filled: set[str] = set()

    def read(self, model: dict[Any, Any]) -> list[Entity]:
        extern = model.get("extern") or []
        for name, definition in model.items():
            if name in (_LINE, "extern"):
                continue
            self._declare(str(name), definition, _line_of(model, None))
        for name, definition in model.items():
            if name in (_LINE, "extern"):
                continue
            self._fill(str(name), definition)
        for name in extern:
            if not self.store.find_by_name(str(name)):
                raise DataFileError(
                    self.path, _line_of(model, None), f"extern entity {name!r} is not in the store"
                )
        return [self.drafts[n] for n in self.order]

    def _declare(self, name: str, definition: Any, line: int | None) -> None:
        if definition is not None and not isinstance(definition, dict):
            raise DataFileError(
                self.path,
                line,
                f"the definition of {name!r} must be a mapping, not {type(definition).__name__}",
            )
        line = _line_of(definition, line)
        if name not in self.drafts:
            role = "RecordType"
            datatype = None
            if isinstance(definition, dict):
                datatype = definition.get("datatype")
                role = definition.get("role") or ("Property" if datatype else "RecordType")
                if role not in ("RecordType", "Property", "Record"):
                    raise DataFileError(self.path, line, f"unknown role {role!r} for {name!r}")
            draft = Entity(id=None, role=role, name=name, datatype=_text(datatype))  # type: ignore[arg-type]
            self.lines[id(draft)] = line
            self.drafts[name] = draft
            self.order.append(name)
        if not isinstance(definition, dict):
            return
        for key in definition:
            if key != _LINE and key not in _MODEL_KEYWORDS:
                raise DataFileError(
                    self.path, line, f"unknown keyword {key!r} in the definition of {name!r}"
                )
        for key in _IMPORTANCE:
            props = definition.get(key)
            if props is None:
                continue
            if not isinstance(props, dict):
                raise DataFileError(
                    self.path, line, f"{key} of {name!r} must be a mapping of property names"
                )
            for prop_name, prop_def in props.items():
                if prop_name != _LINE:
                    self._declare(str(prop_name), prop_def, _line_of(props, line))

    def _fill(self, name: str, definition: Any) -> None:
        if not isinstance(definition, dict):
            return
        draft = self.drafts[name]
        if name in self.filled:
            return
        self.filled.add(name)
        draft.description = _text(definition.get("description"))
        draft.unit = _text(definition.get("unit"))
        line = _line_of(definition, None)
        for key, importance in _IMPORTANCE.items():
            props = definition.get(key) or {}
            for prop_name, prop_def in props.items():
                if prop_name == _LINE:
                    continue
                value = prop_def.get("value") if isinstance(prop_def, dict) else None
                draft.properties.append(
                    PropertyValue(
                        id=None,
                        name=str(prop_name),
                        datatype=None,
                        value=_value(value),
                        importance=importance,
                    )
                )
                self._fill(str(prop_name), prop_def)
        for key in (
            "inherit_from_obligatory",
            "inherit_from_recommended",
            "inherit_from_suggested",
        ):
            parents = definition.get(key)
            if parents is None:
                continue
            if not isinstance(parents, list):
                raise DataFileError(self.path, line, f"{key} of {name!r} must be a list of names")
            level = key.rsplit("_", 1)[1].upper()  # caosadvancedtools sends inheritance=<level>
            draft.parents.extend(
                ParentRef(id=None, name=str(p), inheritance=level) for p in parents
            )


class _RecordsReader:
    """A list of ``{parents, name, properties}`` mappings; missing definitions are created."""

    def __init__(self, path: Path, store: EntityWriter, lines: dict[int, int | None]) -> None:
        self.path = path
        self.store = store
        self.lines = lines
        self.created: dict[str, Entity] = {}
        self.defined: dict[str, Entity] = {}

    def read(self, items: list[Any]) -> list[Entity]:
        records: list[Entity] = []
        for item in items:
            if not isinstance(item, dict):
                raise DataFileError(
                    self.path, None, f"each list item must be a mapping, not {item!r}"
                )
            records.append(self._entity(item))
        for record in records:
            if record.name:
                self.defined[record.name.lower()] = record
        for record, item in zip(records, items, strict=True):
            self._link(record, item)
        return list(self.created.values()) + records

    def _entity(self, item: dict[Any, Any]) -> Entity:
        line = item.get(_LINE)
        unknown = sorted(str(k) for k in item if k != _LINE and k not in _RECORD_KEYS)
        if unknown:
            raise DataFileError(
                self.path,
                line,
                f"unknown key(s) {', '.join(unknown)}; use {', '.join(sorted(_RECORD_KEYS))}",
            )
        role = item.get("role", "Record")
        if role not in ("Record", "RecordType", "Property", "File"):
            raise DataFileError(self.path, line, f"unknown role {role!r}")
        entity = Entity(
            id=item.get("id"),
            role=role,
            name=_text(item.get("name")),
            description=_text(item.get("description")),
            datatype=_text(item.get("datatype")),
            unit=_text(item.get("unit")),
            path=_text(item.get("path")),
        )
        if item.get("file") is not None:
            source = (self.path.parent / str(item["file"])).resolve()
            try:
                entity.upload = source.read_bytes()
            except OSError as err:
                raise DataFileError(
                    self.path, line, f"cannot read file {str(item['file'])!r}: {err.strerror}"
                ) from err
            entity.path = entity.path or "/" + source.name
        self.lines[id(entity)] = line
        return entity

    def _link(self, entity: Entity, item: dict[Any, Any]) -> None:
        line = item.get(_LINE)
        parents = item.get("parents", item.get("parent"))
        if isinstance(parents, str):
            parents = [parents]
        for parent in parents or []:
            self._ensure(str(parent), "RecordType", None, line)
            entity.parents.append(ParentRef(id=None, name=str(parent)))
        properties = item.get("properties") or {}
        if not isinstance(properties, dict):
            raise DataFileError(self.path, line, "properties must be a mapping of name: value")
        for name, spec in properties.items():
            if name == _LINE:
                continue
            explicit = spec if isinstance(spec, dict) else {"value": spec}
            value = explicit.get("value")
            datatype = _text(explicit.get("datatype"))
            definition = self._ensure(
                str(name), "Property", datatype or _infer_datatype(value), line
            )
            entity.properties.append(
                PropertyValue(
                    id=None,
                    name=str(name),
                    datatype=datatype,
                    value=_value(value),
                    unit=_text(explicit.get("unit")),
                    importance=_text(explicit.get("importance")),
                )
            )
            del definition

    def _ensure(
        self, name: str, role: str, datatype: str | None, line: int | None
    ) -> Entity | None:
        key = name.lower()
        if key in self.defined or key in self.created or self.store.find_by_name(name):
            return self.defined.get(key) or self.created.get(key)
        if role == "Property" and datatype and is_reference_datatype(datatype):
            self._ensure(datatype.removeprefix("LIST<").removesuffix(">"), "RecordType", None, line)
        created = Entity(id=None, role=role, name=name, datatype=datatype)  # type: ignore[arg-type]
        self.lines[id(created)] = line
        self.created[key] = created
        return created


# --------------------------------------------------------------------- errors
def _describe_errors(entity: Entity) -> str | None:
    for message in entity.messages:
        if message.type != "Error" or message.code in (114, 116):
            continue
        return message.description
    for parent in entity.parents:
        for message in parent.messages:
            return f"parent {parent.name or parent.id!r}: {message.description}"
    for prop in entity.properties:
        for message in prop.messages:
            return f"property {prop.name or prop.id!r}: {message.description}"
    return None


def _label(entity: Entity) -> str:
    if entity.name:
        return f"{entity.role} {entity.name!r}"
    return f"{entity.role} #{entity.id}" if entity.id is not None else entity.role
