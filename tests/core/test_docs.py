"""The README's promises hold: its commands are CI's, its links exist, its decisions are real."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sss_emulator import decisions

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def _commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", README, re.DOTALL)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    """.ci/run's test line is the README's second set-up command, verbatim."""
    test_command = _commands()[1]
    assert "pytest" in test_command
    ci_lines = (REPO / ".ci" / "run").read_text().splitlines()
    assert test_command in ci_lines


def test_readme_install_command_runs_a_sample() -> None:
    """The first set-up command installs and runs sss-emulate on a sample script."""
    install = _commands()[0]
    assert "pip install -e ." in install
    assert "sss-emulate sample_scripts/" in install


@pytest.mark.parametrize("link", sorted(set(re.findall(r"\]\(((?:docs/)[^)#]+)", README))))
def test_readme_links_exist(link: str) -> None:
    """Every docs page the README links to is there."""
    assert (REPO / link).is_file(), link


def test_every_constant_named_in_fidelity_doc_exists() -> None:
    """The decisions table of docs/fidelity.md names constants that are in decisions.py."""
    text = (REPO / "docs" / "fidelity.md").read_text()
    table = text.split("## Decisions", 1)[1].split("\n## ", 1)[0]
    named = set()
    for row in table.splitlines()[2:]:
        if row.startswith("|"):
            last_cell = row.strip().strip("|").split("|")[-1]
            named.update(re.findall(r"`([A-Za-z_]+)`", last_cell))
    plain = {n for n in named if "." not in n and not n.endswith("_")}
    assert plain, "the table names no constants"
    assert sorted(n for n in plain if not hasattr(decisions, n)) == []


def test_readme_test_command_names_every_package_ci_installs() -> None:
    """A newcomer without bubblewrap saw 11 tests skip with no reason: the README names every
    Debian package .ci/run installs, and its test command shows the skip reasons (-rs)."""
    ci = (REPO / ".ci" / "run").read_text()
    packages = re.search(r"apt-get install -y -qq ([^\n>]+)", ci)
    assert packages is not None
    before_command = README.split(_commands()[1], 1)[0].rsplit("\n\n", 2)[-2]
    for package in re.findall(r"[a-z][a-z-]+", packages.group(1)):
        assert f"{package}" in before_command, package
    assert " -rs" in _commands()[1]


def test_shared_dir_explained_where_script_authors_look() -> None:
    """SHARED_DIR and the /Shared/<dir>/<file> link are said in the README and docs/cli.md."""
    for text in (README, (REPO / "docs" / "cli.md").read_text()):
        assert "`SHARED_DIR`" in text and "/Shared/<dir>/" in text


def test_testing_docs_first_show_how_to_install_into_a_script_repository() -> None:
    """The package is on no index: the first command block of docs/testing.md installs it
    from a path with its extras (and a wheel), not `pip install 'sss-emulator[coverage]'`."""
    text = (REPO / "docs" / "testing.md").read_text()
    first = re.findall(r"```sh\n(.+?)\n```", text, re.DOTALL)[0]
    assert "python3 -m venv" in first
    assert re.search(r"pip install '/\S+sss-emulator\[coverage\]'", first)
    assert "pip wheel --no-deps -w dist" in text.split("```python", 1)[0]
    assert "pip install 'sss-emulator[" not in text + README
