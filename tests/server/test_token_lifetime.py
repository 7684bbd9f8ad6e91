"""Issue 20, point 9: a script's token is worth no more than on the server.

The server's session tokens live ``SESSION_TIMEOUT_MS`` (``decisions.SESSION_VALIDITY_MS``) and
each answer to a request made with one carries a renewed one. A token a script printed (to a
log, a shared file) is refused once that lifetime has passed since it was issued, whatever was
done with it meanwhile. The authority's clock is the seam: no test sleeps.
"""

from __future__ import annotations

from collections.abc import Callable

from linkahead.connection.utils import parse_auth_token
from server_helpers import login
from test_server_hardening import cookie, token_printed_by
from werkzeug.test import Client

from sss_emulator.core.tokens import TokenAuthority
from sss_emulator.serve.app import ServerApp

#: The server's ``SESSION_TIMEOUT_MS`` default (``conf/core/server.conf``), written out here
#: rather than read from ``decisions``: the emulator's figure is what is under test.
LIFETIME = 600_000


def _clocked(make_app_for: Callable[..., ServerApp]) -> tuple[ServerApp, list[int]]:
    now = [1_700_000_000_000]
    return make_app_for(authority=TokenAuthority(clock_ms=lambda: now[0])), now


def test_a_scripts_leaked_token_is_refused_after_the_servers_session_lifetime(
        make_app_for: Callable[..., ServerApp]) -> None:
    app, now = _clocked(make_app_for)
    leaked = token_printed_by(login(app).post("/scripting", data={"call": "minimal.bash"}))
    issued = now[0]
    attacker = Client(app, use_cookies=False)
    now[0] = issued + LIFETIME - 1
    assert attacker.get("/Info", headers=cookie(leaked)).status_code == 200
    now[0] = issued + LIFETIME + 1
    refused = attacker.get("/Info", headers=cookie(leaked))
    assert refused.status_code == 401, "a leaked script token outlives the server's session"
    assert "Set-Cookie" not in refused.headers


def test_a_session_in_use_is_renewed_and_a_logout_ends_all_of_it(
        make_app_for: Callable[..., ServerApp]) -> None:
    """As pylib does with the server: it takes the token of each answer and goes on with it,
    so a script (or the page) working longer than a session keeps working; logging out ends
    the login, its renewals and its scripts' tokens, renewed or not."""
    app, now = _clocked(make_app_for)
    user = login(app)  # keeps the cookie of every answer, as a browser and pylib do
    first_login = _session_cookie(user)
    start = now[0]
    script_token = token_printed_by(user.post("/scripting", data={"call": "minimal.bash"}))
    script = Client(app, use_cookies=False)
    now[0] = start + LIFETIME * 3 // 4
    answer = script.get("/Info", headers=cookie(script_token))
    assert answer.status_code == 200
    renewed = parse_auth_token(answer.headers["Set-Cookie"])  # what pylib goes on with
    assert renewed is not None and renewed != script_token
    assert user.post("/scripting", data={"call": "minimal.bash"}).status_code == 200
    now[0] = start + LIFETIME * 3 // 2
    assert script.get("/Info", headers=cookie(script_token)).status_code == 401
    assert script.get("/Info", headers=cookie(renewed)).status_code == 200
    assert user.post("/scripting", data={"call": "minimal.bash"}).status_code == 200
    last_login = _session_cookie(user)
    assert last_login != first_login, "the page's session is renewed as it is used"
    assert user.post("/logout").status_code == 200
    for token in (renewed, first_login, last_login):
        assert script.get("/Info", headers=cookie(token)).status_code == 401


def _session_cookie(client: Client) -> str:
    jar = client.get_cookie("SessionToken")
    assert jar is not None
    token = parse_auth_token(f"SessionToken={jar.value};")
    assert token is not None
    return token


def test_a_script_that_logs_its_renewed_token_out_does_not_log_its_caller_out(
        make_app_for: Callable[..., ServerApp]) -> None:
    """Revoking a renewal goes back to the session it renews, and no further: a script's
    token was issued on behalf of its caller, not as a renewal of the caller's session."""
    app, _ = _clocked(make_app_for)
    user = login(app)
    script_token = token_printed_by(user.post("/scripting", data={"call": "minimal.bash"}))
    script = Client(app, use_cookies=False)
    renewed = parse_auth_token(script.get("/Info", headers=cookie(script_token))
                               .headers["Set-Cookie"])
    assert renewed is not None
    assert script.post("/logout", headers=cookie(renewed)).status_code == 200
    for token in (script_token, renewed):
        assert script.get("/Info", headers=cookie(token)).status_code == 401
    assert user.post("/scripting", data={"call": "minimal.bash"}).status_code == 200
