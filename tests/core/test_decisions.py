"""Every decision about unverified server behaviour lives in decisions.py and is really used."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from sss_emulator import decisions
from sss_emulator.core.call import request_from_form

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "sss_emulator"


def _decision_names() -> list[str]:
    tree = ast.parse((PACKAGE / "decisions.py").read_text())
    names = []
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name) and t.id.isupper()]
        elif isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            names.append(node.name)
    return names


def _uses() -> set[str]:
    """Names read from decisions.py anywhere else in the package (``decisions.X`` or imported)."""
    used: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if path.name == "decisions.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "decisions"):
                used.add(node.attr)
            elif isinstance(node, ast.ImportFrom) and node.module == "sss_emulator.decisions":
                used.update(alias.name for alias in node.names)
    return used


DECISIONS = _decision_names()


def test_decisions_module_is_not_empty() -> None:
    """The scan finds the module's constants (a scan that finds nothing would prove nothing)."""
    assert {"REFUSE_POSITIONAL_GAPS", "KILL_GRACE_S", "exit_code_for_signal"} <= set(DECISIONS)


@pytest.mark.parametrize("name", DECISIONS)
def test_every_decision_is_used_by_the_code(name: str) -> None:
    """A constant nobody reads would claim a behaviour the code does not have."""
    assert name in _uses(), f"decisions.{name} is not used anywhere; use it or remove it"


@pytest.mark.parametrize("name", DECISIONS)
def test_every_decision_is_documented(name: str) -> None:
    """docs/fidelity.md names each decision, so users can find what we chose."""
    assert f"`{name}`" in (REPO / "docs" / "fidelity.md").read_text()


def test_repeated_options_follow_the_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    """REPEATED_OPTIONS_KEPT decides whether a repeated -O<name> is passed once or each time."""
    fields = [("call", "a.py"), ("-Ox", "1"), ("-Oy", "2"), ("-Ox", "3")]
    assert request_from_form(fields).user_arguments() == ["--x=1", "--y=2", "--x=3"]
    monkeypatch.setattr(decisions, "REPEATED_OPTIONS_KEPT", False)
    assert request_from_form(fields).user_arguments() == ["--y=2", "--x=3"]


def test_positional_gaps_follow_the_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    """REFUSE_POSITIONAL_GAPS decides whether -p0, -p2 is refused or passed in index order."""
    from sss_emulator.errors import BadRequestForm

    fields = [("call", "a.py"), ("-p2", "c"), ("-p0", "a")]
    with pytest.raises(BadRequestForm, match="-p1 is missing"):
        request_from_form(fields)
    monkeypatch.setattr(decisions, "REFUSE_POSITIONAL_GAPS", False)
    assert request_from_form(fields).user_arguments() == ["a", "c"]


def test_docs_link_only_inside_the_repository() -> None:
    """A link to a file outside the repository is broken for every reader of a clone."""
    outside = []
    for page in [REPO / "README.md", *(REPO / "docs").rglob("*.md")]:
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            resolved = (page.parent / target).resolve()
            if not resolved.is_relative_to(REPO) or not resolved.exists():
                outside.append(f"{page.relative_to(REPO)} -> {target}")
    assert outside == []


def test_home_follows_the_decision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HOME_IS_WORKDIR decides whether HOME is the working directory or a folder of its own."""
    from sss_emulator.invocation import Emulator

    script = tmp_path / "bin" / "where.sh"
    script.parent.mkdir()
    script.write_text('#!/bin/sh\necho "$HOME"; pwd\n')
    script.chmod(0o755)
    em = Emulator([script.parent], work_root=tmp_path / "w", shared_root=tmp_path / "s",
                  stand_in=False)
    home, cwd = em.run_server_side_script("where.sh").stdout_text.split()
    assert home == cwd
    monkeypatch.setattr(decisions, "HOME_IS_WORKDIR", False)
    home, cwd = em.run_server_side_script("where.sh").stdout_text.split()
    assert home != cwd and Path(home).name == Path(cwd).name + "-home"
    assert list((tmp_path / "w").iterdir()) == []
