"""Normalisation: what legitimately differs between two runs becomes the same placeholder."""

from __future__ import annotations

from pathlib import Path

import pytest

from sss_emulator.errors import ConfigError
from sss_emulator.fidelity.normalise import (
    Normaliser,
    SideFacts,
    linked_shared_files,
    load_rules,
    parse_rules,
)

SERVER_TOKEN = ('["S","PAM","admin",["administration"],[],1764633600000,3600000,'
                '"3ZZ4WKRB-5I7DG2Q6","197d0a"]')


@pytest.mark.parametrize(("text", "expected"), [
    (f"--auth-token={SERVER_TOKEN} x", "--auth-token=<TOKEN> x"),
    (f"token: {SERVER_TOKEN}.", "token: <TOKEN>."),
    ('["O","OneTimeAuthenticationToken","anonymous",["administration"],[],1592995200000,'
     '604800000,"3ZZ4WKRB-5I7DG2Q6-ZZE6T64P-VQ","197d",1,30000]', "<TOKEN>"),
    ("at 2026-12-02T03:05:21+00:00 and 2026-12-02 03:05:21,123", "at <TIMESTAMP> and "
                                                                 "<TIMESTAMP>"),
    ('<a href="/linkahead/Shared/0a1b2c/report.txt">', '<a href="/linkahead/Shared/<SHARED>/'
                                                       'report.txt">'),
    ("no date 2026-12-02 alone", "no date 2026-12-02 alone"),
])
def test_builtin_rules(text: str, expected: str) -> None:
    """Tokens (any shape LinkAhead uses), ISO timestamps and download links are rewritten."""
    assert Normaliser()(text) == expected


def test_known_literals_of_a_local_run() -> None:
    """A local run's own token, SHARED_DIR, working dir, bin dir and srid are rewritten,
    but a path that merely starts like one is left alone."""
    facts = SideFacts(script_call="a.sh", bin_dirs=("/opt/bin",), shared_dirs=("/s/abc",),
                      shared_names=("abc",), workdirs=("/w/call-1",), tokens=("tok-1",),
                      srids=("f00d",))
    text = "/opt/bin/a.sh tok-1 /s/abc/x /w/call-1/h /w/call-12 /opt/binary abc f00d"
    assert Normaliser(facts)(text) == ("<BIN_DIR>/a.sh <TOKEN> <SHARED_DIR>/x <WORKDIR>/h "
                                       "/w/call-12 /opt/binary <SHARED> <SRID>")


def test_a_servers_layout_is_learned_from_its_output() -> None:
    """The server's bin dir shows in an absolute path ending in the call, its SHARED_DIR in a
    path ending in a linked random name: both are learned and used in every text."""
    stdout = ('/srv/caosdb/scripting/bin/admin/diag.py\n'
              '<a href="/Shared/9f8e/log.txt">log</a>\n')
    norm = Normaliser(SideFacts(script_call="admin/diag.py")).learned_from([stdout])
    assert norm.facts.bin_dirs == ("/srv/caosdb/scripting/bin",)
    assert norm.facts.shared_names == ("9f8e",)
    log = "SHARED_DIR=/srv/caosdb/shared/9f8e\nrunning /srv/caosdb/scripting/bin/other.py"
    assert norm(log) == "SHARED_DIR=<SHARED_DIR>\nrunning <BIN_DIR>/other.py"


def test_normalising_twice_changes_nothing() -> None:
    """Recorded expectations are stored normalised; normalising them again is harmless."""
    raw = "/x/bin/minimal.bash --auth-token=abc 2026-01-01T00:00:00Z /Shared/r/f"
    once = Normaliser(SideFacts(script_call="minimal.bash")).learned_from([raw])(raw)
    assert once == "<BIN_DIR>/minimal.bash --auth-token=<TOKEN> <TIMESTAMP> /Shared/<SHARED>/f"
    again = Normaliser(SideFacts(script_call="minimal.bash")).learned_from([once])
    assert again(once) == once
    assert again.facts.bin_dirs == ()


def test_user_rules_apply_last_with_group_references(tmp_path: Path) -> None:
    """REGEX => REPLACEMENT lines (split at the last ' => '), comments and blanks skipped,
    \\1 works."""
    rules_file = tmp_path / "rules.txt"
    rules_file.write_text("# my server\n\n/srv/work/(\\w+) => <WORK:\\1>\nx => => y\n")
    rules = load_rules(rules_file)
    assert [r.origin for r in rules] == [f"{rules_file}:3", f"{rules_file}:4"]
    assert Normaliser(rules=rules)("/srv/work/abc x => z") == "<WORK:abc> y z"


@pytest.mark.parametrize(("line", "message"), [
    ("no separator", "write one rule per line as REGEX => REPLACEMENT"),
    (" => empty pattern", "write one rule per line"),
    ("(unclosed => x", "is not a valid rule"),
    ("a => \\2", "is not a valid rule"),
])
def test_bad_rules_name_the_line(line: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_rules(f"ok => fine\n{line}\n", "rules.txt")
    assert caught.value.message.startswith("rules.txt:2: ") and message in caught.value.message


def test_a_missing_rule_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Cannot read the rule file"):
        load_rules(tmp_path / "nope.txt")


def test_linked_shared_files_keeps_names_below_the_random_folder() -> None:
    """Links give (random name, file path), trailing punctuation not included, each once."""
    text = ('see /Shared/r1/out.txt, and <a href="/root/Shared/r1/sub/x.csv">x</a> '
            "/Shared/r1/out.txt")
    assert linked_shared_files(text) == [("r1", "out.txt"), ("r1", "sub/x.csv")]
