"""form_elements-style configs: validation messages and the HTML each field type becomes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sss_emulator.serve.page.forms import (
    FormConfigError,
    load_form_config,
    parse_form_config,
    render_config_fields,
)

REPO_SAMPLES = Path(__file__).resolve().parents[2] / "sample_scripts"

ALL_TYPES: dict[str, Any] = {
    "fields": [
        {"type": "text", "name": "comment", "label": "A Comment"},
        {"type": "integer", "name": "number", "label": "A Number", "required": True,
         "min": 0},
        {"type": "double", "name": "mass", "help": "in kg"},
        {"type": "date", "name": "date", "label": "A Date"},
        {"type": "checkbox", "name": "dry", "label": "Dry run", "value": "true"},
        {"type": "select", "name": "algo", "options": ["fast", {"value": "exact",
                                                                "label": "Exact"}]},
        {"type": "file", "name": "table", "accept": "*.csv, text/plain"},
    ]
}


def test_each_field_type_becomes_its_input() -> None:
    html = render_config_fields(parse_form_config(ALL_TYPES, "x.py"))
    assert '<input type="text" id="cf-0" name="comment" data-kind="text">' in html
    assert ('<input type="number" id="cf-1" name="number" data-kind="integer" required '
            'step="1" min="0">') in html
    assert 'name="mass" data-kind="double" aria-describedby="cf-2-help" step="any"' in html
    assert '<input type="date" id="cf-3" name="date" data-kind="date">' in html
    assert 'type="checkbox" id="cf-4" name="dry" data-kind="checkbox" checked>' in html
    assert '<option value="fast">fast</option><option value="exact">Exact</option>' in html
    assert 'accept=".csv,text/plain"' in html
    assert '<label for="cf-1">A Number <span class="required">(required)</span></label>' in html


def test_labels_and_help_are_escaped() -> None:
    config = parse_form_config(
        {"fields": [{"type": "text", "name": "n", "label": "<b>x</b>", "help": "a & b"}]}, "x")
    html = render_config_fields(config)
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "a &amp; b" in html


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected an object with 'fields'"),
        ({"fields": []}, "'fields' must be a non-empty list"),
        ({"fields": [{"type": "colour", "name": "c"}]}, "type 'colour' is not supported"),
        ({"fields": [{"type": "text", "name": "-p0"}]}, "name '-p0' cannot be used"),
        ({"fields": [{"type": "text", "name": "call"}]}, "name 'call' cannot be used"),
        ({"fields": [{"type": "text"}]}, "name '' cannot be used"),
        ({"fields": [{"type": "select", "name": "s"}]}, "a select needs 'options'"),
        ({"fields": [{"type": "text", "name": "a"}, {"type": "date", "name": "a"}]},
         "two fields are named 'a'"),
        ({"script": "other.py", "fields": [{"type": "text", "name": "a"}]},
         "'script' is 'other.py' but the file sits beside 'x.py'"),
        ({"fields": [{"type": "text", "name": "a", "label": ["x"]}]}, "'label' must be text"),
    ],
)
def test_bad_configs_name_the_problem(data: Any, message: str) -> None:
    with pytest.raises(FormConfigError, match="form config") as info:
        parse_form_config(data, "x.py")
    assert message in str(info.value)


def test_loading_reports_json_syntax_with_the_file(tmp_path: Path) -> None:
    script = tmp_path / "a.py"
    script.write_text("")
    assert load_form_config(script, "a.py") is None
    (tmp_path / "a.py.form.json").write_text('{"fields": [}')
    with pytest.raises(FormConfigError) as info:
        load_form_config(script, "a.py")
    assert str(tmp_path / "a.py.form.json") in str(info.value)
    assert "not valid JSON (line 1" in str(info.value)


def test_script_defaults_to_the_file_beside_it(tmp_path: Path) -> None:
    script = tmp_path / "b.py"
    (tmp_path / "b.py.form.json").write_text(json.dumps(ALL_TYPES))
    config = load_form_config(script, "sub/b.py")
    assert config is not None and config.script == "sub/b.py" and len(config.fields) == 7


@pytest.mark.parametrize("config", sorted((REPO_SAMPLES).glob("*.form.json")),
                         ids=lambda p: p.name)
def test_sample_form_configs_are_valid(config: Path) -> None:
    """Every form config shipped beside a sample script loads without an error."""
    script = config.with_name(config.name.removesuffix(".form.json"))
    assert script.is_file()
    loaded = load_form_config(script, script.name)
    assert loaded is not None and loaded.fields
