"""A token recognised by its content in every form a script prints it (record, snapshots)."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from sss_emulator.core.printed_tokens import redact_printed_tokens, token_parts
from sss_emulator.core.tokens import Identity, PurposeEntry, TokenAuthority

AUTHORITY = TokenAuthority()
SESSION = AUTHORITY.session_token(Identity("ann", "PAM", ("administration", "team a")))
ONE_TIME = AUTHORITY.one_time_token(PurposeEntry("SCRIPTING:EXECUTE:a.py", roles=("r",)))


def _forms(token: str) -> list[str]:
    fields = json.loads(token)
    return [token, json.dumps(token), urllib.parse.quote(token),
            urllib.parse.quote(token, safe=""), urllib.parse.quote_plus(json.dumps(fields)),
            json.dumps(fields), str(fields), json.dumps(fields, indent=1),
            json.dumps(json.dumps(fields, indent=1)), repr(token), str({"t": token})]


@pytest.mark.parametrize("token", [SESSION, ONE_TIME], ids=["session", "one-time"])
def test_every_printed_form_becomes_one_placeholder(token: str) -> None:
    fields = json.loads(token)
    for form in _forms(token):
        text = f"before {form} after\nsalt alone: {fields[7]}\n"
        redacted = redact_printed_tokens(text, token_parts([text]))
        assert fields[7] not in redacted and fields[8] not in redacted, form
        assert redacted.startswith("before ") and redacted.endswith(" after\nsalt alone: "
                                                                    "<TOKEN>\n"), redacted
        assert redacted.count("<TOKEN>") == 2, redacted


def test_a_salt_learned_in_one_text_is_redacted_in_another() -> None:
    fields = json.loads(SESSION)
    parts = token_parts([str(fields)])
    assert redact_printed_tokens(f"the salt {fields[7]}", parts) == "the salt <TOKEN>"


def test_other_text_is_left_alone() -> None:
    text = "['S', 'x'] [\"O\"] sha256 " + "ab" * 32 + " list [1, 2]"
    assert redact_printed_tokens(text, token_parts([text])) == text
