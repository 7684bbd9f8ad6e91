"""Permission strings, Shiro wildcard matching and the token format (contract §5)."""

from __future__ import annotations

import json

import pytest

from sss_emulator.core.permissions import implies, is_allowed, permission_for
from sss_emulator.core.tokens import (
    Identity,
    PurposeEntry,
    TokenAuthority,
    find_purpose,
    parse_purpose_entries,
)


def test_permission_string_replaces_slashes() -> None:
    """administration/diagnostics.py needs SCRIPTING:EXECUTE:administration:diagnostics.py."""
    assert permission_for("administration/diagnostics.py") == (
        "SCRIPTING:EXECUTE:administration:diagnostics.py")


@pytest.mark.parametrize(
    ("grant", "call", "allowed"),
    [
        ("SCRIPTING:EXECUTE:a.py", "a.py", True),
        ("SCRIPTING:EXECUTE:a.py", "b.py", False),
        ("SCRIPTING:EXECUTE:*", "a.py", True),
        ("SCRIPTING:EXECUTE:*", "sub/a.py", True),
        ("SCRIPTING:EXECUTE", "sub/deep/a.py", True),
        ("SCRIPTING", "a.py", True),
        ("*", "a.py", True),
        ("SCRIPTING:EXECUTE:my_scripts/*", "my_scripts/a.py", True),
        ("SCRIPTING:EXECUTE:my_scripts:*", "other/a.py", False),
        ("SCRIPTING:EXECUTE:a.py,b.py", "b.py", True),
        ("SCRIPTING:EXECUTE:sub:a.py:*", "sub/a.py", True),
        ("SCRIPTING:EXECUTE:sub:a.py:x", "sub/a.py", False),
        ("SCRIPTING:RETRIEVE", "a.py", False),
    ],
)
def test_shiro_wildcards(grant: str, call: str, allowed: bool) -> None:
    """Parts split on ':', '*' matches a part, shorter grants imply longer permissions."""
    assert implies(grant, permission_for(call)) is allowed


def test_administration_may_do_everything_others_need_a_grant() -> None:
    """The administration role passes without grants; other roles need one."""
    perms = {"team": ("SCRIPTING:EXECUTE:handle_csv.py",)}
    assert is_allowed(("administration",), permission_for("x.py"), {})
    assert is_allowed(("team",), permission_for("handle_csv.py"), perms)
    assert not is_allowed(("team",), permission_for("x.py"), perms)
    assert not is_allowed((), permission_for("x.py"), perms)


def test_session_token_has_the_server_format_and_verifies() -> None:
    """["S", realm, user, roles, permissions, issued, validity, salt, checksum]."""
    authority = TokenAuthority()
    token = authority.session_token(Identity("alice", "PAM", ("team",)))
    fields = json.loads(token)
    assert fields[:5] == ["S", "PAM", "alice", ["team"], []]
    assert isinstance(fields[5], int) and isinstance(fields[6], int)
    assert len(fields[8]) == 128 and int(fields[8], 16) >= 0
    info = authority.verify(token)
    assert info is not None and info.identity == Identity("alice", "PAM", ("team",))


def test_one_time_token_carries_the_purpose_roles() -> None:
    """A purpose entry's token is an 'O' token with its roles and replay fields."""
    authority = TokenAuthority()
    entry = PurposeEntry("SCRIPTING:EXECUTE:handle_csv.py", ("administration",))
    fields = json.loads(authority.one_time_token(entry))
    assert fields[0] == "O" and fields[1] == "OneTimeAuthenticationToken"
    assert fields[3] == ["administration"] and len(fields) == 11
    assert authority.verify(authority.one_time_token(entry)) is not None


@pytest.mark.parametrize("mutate", ["user", "checksum", "garbage", "other-authority"])
def test_forged_tokens_are_rejected(mutate: str) -> None:
    """Tampered, foreign or malformed tokens do not verify."""
    authority = TokenAuthority()
    fields = json.loads(authority.session_token(Identity("alice")))
    if mutate == "user":
        fields[2] = "admin"
        token = json.dumps(fields)
    elif mutate == "checksum":
        fields[8] = "0" * 128
        token = json.dumps(fields)
    elif mutate == "garbage":
        token = "not json"
    else:
        token = TokenAuthority().session_token(Identity("alice"))
    assert authority.verify(token) is None


def test_expired_token_is_rejected() -> None:
    """A token past its validity no longer verifies."""
    now = [1_000_000]
    authority = TokenAuthority(clock_ms=lambda: now[0])
    token = authority.session_token(Identity("alice"))
    now[0] += 3_600_001
    assert authority.verify(token) is None


def test_purpose_lookup_is_exact_on_the_raw_call() -> None:
    """Purpose SCRIPTING:EXECUTE:<call> with slashes kept, exact match only."""
    entries = parse_purpose_entries(
        [{"purpose": "SCRIPTING:EXECUTE:sub/a.py", "roles": ["administration"]},
         {"roles": ["x"]}], "test")
    assert find_purpose(entries, "sub/a.py") is not None
    assert find_purpose(entries, "sub:a.py") is None
    assert find_purpose(entries, "a.py") is None


def test_malformed_authtoken_entries_name_the_source() -> None:
    """A non-list file or bad roles are reported with the file name."""
    with pytest.raises(ValueError, match=r"auth\.yaml"):
        parse_purpose_entries({"purpose": "x"}, "auth.yaml")
    with pytest.raises(ValueError, match="roles"):
        parse_purpose_entries([{"purpose": "x", "roles": "admin"}], "auth.yaml")
