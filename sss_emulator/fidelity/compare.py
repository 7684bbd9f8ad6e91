"""Run one call on a real server and locally, and report where the two differ.

:func:`plan_compare` resolves the local side (settings, script, arguments; no network) so a
front end can show what will run on the server before it does; :func:`run_compare` logs in,
runs the call on the server through its scripting API, runs it locally as the same user, and
compares the two with :func:`~sss_emulator.fidelity.report.compare_observed`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sss_emulator.core.call import FieldValue, call_string
from sss_emulator.core.outcome import RunOutcome
from sss_emulator.core.render import ResponseMeta, render_error_xml
from sss_emulator.core.tokens import Identity
from sss_emulator.errors import EmulatorError
from sss_emulator.fidelity.client import ScriptingClient
from sss_emulator.fidelity.normalise import Normaliser, Rule, SideFacts, outcome_normaliser
from sss_emulator.fidelity.observed import Observed, UserInfo, parse_response
from sss_emulator.fidelity.report import Report, compare_observed
from sss_emulator.invocation import Prepared, RunInvocation, prepare
from sss_emulator.invocation.script_args import attachments, parse_script_args

__all__ = ("ComparePlan", "local_observation", "plan_compare", "run_compare")


@dataclass(frozen=True)
class ComparePlan:
    """A call resolved for both sides: the local run is ready, the server's form is built."""

    server_url: str
    prepared: Prepared
    fields: tuple[tuple[str, FieldValue], ...]
    """The form the server gets: ``call``, then the arguments in the order typed."""
    cacert: str | None = None
    rules: tuple[Rule, ...] = ()

    @property
    def call(self) -> str:
        """The call as the response's ``<call>`` will show it."""
        return call_string(self.prepared.request)


def plan_compare(invocation: RunInvocation, *, rules: Sequence[Rule] = ()) -> ComparePlan:
    """Resolve the local side of a comparison; :class:`EmulatorError` when it cannot run.

    The server is the invocation's ``server_url`` setting (``--server-url``,
    ``SSS_SERVER_URL``, …; ``""`` when none is set) and ``cacert`` its certificate. They are
    not applied to the local run: there the script's callbacks reach the stand-in, as in any
    local run.
    """
    prepared = prepare(invocation, local_only=True)
    values = prepared.settings.values
    fields: list[tuple[str, FieldValue]] = [("call", prepared.request.call)]
    fields += parse_script_args(invocation.script_args, invocation.cwd)
    fields += attachments(invocation.options.get("attach", ()), invocation.cwd)
    cacert = values.get("cacert")
    return ComparePlan(str(values.get("server_url") or ""), prepared, tuple(fields),
                       cacert=str(cacert) if cacert else None, rules=tuple(rules))


def _explicit_identity(prepared: Prepared) -> bool:
    """Did the user say who runs locally (roles, a users file entry, anonymous)?"""
    values = prepared.settings.values
    user = values.get("user")
    return bool(values.get("roles") or values.get("anonymous")
                or (user and user in prepared.settings.users.users))


def _local_identity(prepared: Prepared, server_user: UserInfo | None) -> Identity:
    """Run locally as the server ran the call, unless the user said otherwise."""
    if _explicit_identity(prepared) or server_user is None:
        return prepared.identity
    return Identity(server_user.name, server_user.realm or prepared.identity.realm,
                    server_user.roles)


def local_observation(outcome: RunOutcome | None, error: EmulatorError | None,
                      identity: Identity) -> tuple[Observed, str]:
    """A local run read exactly as the server's answer is read; also its srid."""
    meta = ResponseMeta(identity=identity)
    if outcome is None:
        assert error is not None
        body = render_error_xml(error.http_status, error.message, meta)
        refused = parse_response(error.http_status, body)
        return replace(refused, shared={}, shared_complete=True), meta.srid
    status = 500 if outcome.timed_out or outcome.code is None else 200
    observed = parse_response(status, outcome.to_xml(meta))
    shared: dict[str, bytes | None] = {name: path.read_bytes()
                                       for name, path in outcome.shared_files.items()}
    return replace(observed, shared=shared, shared_complete=True), meta.srid


def run_compare(plan: ComparePlan, username: str, password: str, *,
                timeout: float | None = None) -> Report:
    """Log in, run the call on the server, run it locally, and compare.

    :class:`EmulatorError` (a :class:`ConfigError`) when the server cannot be reached or
    refuses the login; a refused *call* is an answer and is compared like any other.
    """
    client = ScriptingClient(plan.server_url, cacert=plan.cacert, timeout=timeout)
    login_user = client.login(username, password)
    answer = client.run(plan.fields)
    server = parse_response(answer.status, answer.body)
    if server.code is not None or server.stdout is not None:
        files, complete = client.shared_files(server)
        server = replace(server, shared=files, shared_complete=complete)
    else:
        server = replace(server, shared={}, shared_complete=True)
    server_user = server.user or login_user

    prepared = plan.prepared
    identity = _local_identity(prepared, server_user)
    outcome: RunOutcome | None = None
    refusal: EmulatorError | None = None
    with prepared.emulator:
        try:
            outcome = prepared.emulator.run(prepared.request, identity=identity,
                                            auth_token=prepared.auth_token)
        except EmulatorError as error:
            refusal = error
    local, srid = local_observation(outcome, refusal, identity)

    call = prepared.request.call
    server_facts = SideFacts(script_call=call, tokens=(client.token,) if client.token else (),
                             srids=(server.srid,) if server.srid else ())
    server_norm = Normaliser(server_facts, plan.rules).learned_from(_texts(server))
    if outcome is not None:
        local_norm = outcome_normaliser(outcome, prepared.emulator.bin_dirs, plan.rules, srid)
    else:
        local_norm = Normaliser(SideFacts(script_call=call, srids=(srid,)), plan.rules)
    norms = (server_norm, local_norm)
    shown_user = server_user.name if server_user else username
    roles = ", ".join(identity.roles) or "no roles"
    sources = (f"{plan.server_url} (logged in as {shown_user})",
               f"bin dir {', '.join(str(b) for b in prepared.emulator.bin_dirs)}; home "
               f"{prepared.emulator.home or '(none)'}; as {identity.name} ({roles})")
    return compare_observed(server, local, norms, title=f"compare {plan.call}",
                            labels=("server", "local"), sources=sources)


def _texts(observed: Observed) -> list[str]:
    return [observed.stdout or "", observed.stderr or "", observed.call or ""]
