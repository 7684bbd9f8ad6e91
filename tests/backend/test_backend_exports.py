"""The backend's public names are the ones the rest of the project calls."""

from __future__ import annotations

import sss_emulator.backend as backend

EXPECTED = {
    "Authenticate", "BackendServer", "CallRecorder", "DataFileError", "Entity", "EntityStore",
    "Mail", "MailCollector", "Principal", "QuerySyntaxError", "SmtpSink", "StandIn",
    "UserRecord", "load_data_file", "make_backend_app", "parse_query", "patch_pylinkahead_ini",
    "write_sendmail_program",
}  # fmt: skip


def test_all_is_sorted_complete_and_importable() -> None:
    """``__all__`` lists exactly the public API, sorted, and every name resolves."""
    assert list(backend.__all__) == sorted(backend.__all__)
    assert set(backend.__all__) == EXPECTED
    for name in backend.__all__:
        assert getattr(backend, name) is not None


def test_a_frozen_token_type_satisfies_principal() -> None:
    """The core's immutable token type can be passed where a Principal is expected."""
    from backend_helpers import BackendPrincipal

    principal: backend.Principal = BackendPrincipal()
    assert (principal.name, principal.realm, list(principal.roles)) == (
        "alice",
        "PAM",
        ["data-manager"],
    )
