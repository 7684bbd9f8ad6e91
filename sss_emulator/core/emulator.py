"""The one core operation: run a scripting call as the server would, and say what happened.

Adapters (CLI, HTTP server, watch mode, pytest plugin) build a :class:`CallRequest` and an
:class:`Identity` and call :meth:`Emulator.run`; everything about the server's behaviour is
decided here or in the modules it calls, never in an adapter.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from sss_emulator import decisions
from sss_emulator.core.call import (
    CallRequest,
    FieldValue,
    Upload,
    build_argv,
    call_string,
    ignored_field_note,
    request_from_form,
)
from sss_emulator.core.call import request_from_pylib as _request_from_pylib
from sss_emulator.core.environment import scrubbed_environment
from sss_emulator.core.hooks import ProcessRunner, RunContext, RunHook
from sss_emulator.core.outcome import RunOutcome, redact_argv
from sss_emulator.core.permissions import UsersConfig, denied_by, is_allowed, permission_for
from sss_emulator.core.runner import StreamSink, run_process
from sss_emulator.core.scripts import resolve_script
from sss_emulator.core.tokens import ANONYMOUS, Identity, PurposeEntry, TokenAuthority, find_purpose
from sss_emulator.core.workspace import (
    Stage,
    Workspace,
    default_root,
    wait_for_removals,
    workspace,
)
from sss_emulator.errors import NotAuthenticated, PermissionDenied, ScriptTimeout, SetupError
from sss_emulator.logs import Logger

__all__ = ("Emulator",)

logger = Logger("sss_emulator.core.emulator")


def _raw_environ() -> dict[bytes, bytes] | dict[str, str] | None:
    """The dict behind ``os.environ`` (CPython keeps the encoded variables there), or None
    where that detail is missing, and the environment is then read anew on every run."""
    raw = getattr(os.environ, "_data", None)
    return raw if isinstance(raw, dict) else None


def _as_paths(values: Iterable[str | os.PathLike[str]] | None) -> tuple[Path, ...]:
    return tuple(Path(v).absolute() for v in values or ())


class Emulator:
    """Runs server-side scripts locally with the server's calling convention.

    >>> em = Emulator(bin_dirs=["sample_scripts"], timeout=30)      # doctest: +SKIP
    >>> res = em.run_server_side_script("minimal.bash", "pos0", option1="val1")  # doctest: +SKIP
    >>> res.code, res.call                                          # doctest: +SKIP
    (0, 'minimal.bash --option1=val1 pos0')
    """

    def __init__(
        self,
        bin_dirs: Iterable[str | os.PathLike[str]] = (),
        home: str | os.PathLike[str] | None = None,
        *,
        timeout: float | None = None,
        shared_root: str | os.PathLike[str] | None = None,
        work_root: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        user: str = decisions.DEFAULT_USER,
        roles: Sequence[str] = (decisions.DEFAULT_ADMIN_ROLE,),
        realm: str = decisions.DEFAULT_REALM,
        anonymous: bool = False,
        users: UsersConfig | None = None,
        purposes: Sequence[PurposeEntry] = (),
        context_root: str = "",
        keep: bool = False,
        authority: TokenAuthority | None = None,
        hooks: Sequence[RunHook] = (),
        notes: Sequence[str] = (),
        runner: ProcessRunner | None = None,
    ) -> None:
        self.bin_dirs = _as_paths(bin_dirs)
        self.home = Path(home).absolute() if home is not None else None
        self.timeout = timeout
        self.shared_root = Path(shared_root).absolute() if shared_root else default_root("shared")
        self.work_root = Path(work_root).absolute() if work_root else default_root("work")
        self.env = dict(env.items() if isinstance(env, Mapping) else env)
        self.identity = ANONYMOUS if anonymous else Identity(user, realm, tuple(roles))
        self.anonymous_allowed = anonymous
        self.users = users or UsersConfig()
        self.purposes = tuple(purposes)
        self.context_root = context_root.strip("/")
        self.keep = keep
        self.authority = authority or TokenAuthority()
        self.hooks = list(hooks)
        self.notes = tuple(notes)
        #: Starts the script: ``run_process``'s signature (the pytest plugin's in-process mode
        #: swaps it for one that runs Python scripts inside the test process).
        self.runner = runner or run_process
        #: The inherited part of the scripts' environment, rebuilt only when ``os.environ`` or
        #: ``env`` changed since the last run (see :meth:`script_env`).
        self._env_cache: tuple[object, dict[str, str], dict[str, str]] | None = None
        #: The next run's directories, made ahead from the second run on (removed by close(),
        #: or when the emulator is collected).
        self._stage = Stage()
        weakref.finalize(self, self._stage.close)

    def close(self) -> None:
        """Stop what hooks started (the stand-in's server and SMTP sink), and wait until the
        working directories of finished runs are deleted from disk (they vanished from the work
        root when each run ended; the deleting happens off the run's critical path), and so are
        the directories made ahead for a next run."""
        try:
            for hook in self.hooks:
                hook.close()
        finally:
            self._stage.close()
            wait_for_removals()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the pylib-shaped front --------------------------------------------------------------

    def run_server_side_script(
        self,
        call: str,
        *args: object,
        files: Mapping[str, str | os.PathLike[str]] | None = None,
        **kwargs: object,
    ) -> RunOutcome:
        """Run ``call`` as pylib's ``run_server_side_script`` would have the server run it."""
        request = _request_from_pylib(
            call, args, {k: Path(v) for k, v in (files or {}).items()}, kwargs
        )
        return self.run(request)

    def run_form(
        self, fields: Iterable[tuple[str, FieldValue]], files: Iterable[tuple[str, Upload]] = ()
    ) -> RunOutcome:
        """Run the raw form fields of a ``POST /scripting``."""
        return self.run(request_from_form(fields, files))

    # --- the core ----------------------------------------------------------------------------

    def check_access(self, call: str, identity: Identity) -> None:
        """Refuse as the server does: 401 for anonymous when off, 403 without the permission."""
        if identity.is_anonymous and not self.anonymous_allowed:
            raise NotAuthenticated(
                "Anonymous access is disabled; log in or allow anonymous callers (--anonymous)."
            )
        permission = permission_for(call)
        if not is_allowed(identity.roles, permission, self.users.role_permissions):
            roles = ", ".join(identity.roles) or "no roles"
            denies = denied_by(identity.roles, permission, self.users.role_permissions)
            if denies:
                role, rule = denies[0]
                raise PermissionDenied(
                    f"User {identity.name!r} ({roles}) may not run {call!r}: role {role!r} "
                    f"denies {rule.permission}{' with priority' if rule.priority else ''}; "
                    "remove that deny (a deny wins over a grant; only a priority grant "
                    "overrides one without priority)."
                )
            raise PermissionDenied(
                f"User {identity.name!r} ({roles}) may not run {call!r}: grant {permission} to "
                "one of their roles."
            )

    def token_for(self, call: str, identity: Identity) -> str | None:
        """The ``--auth-token`` a script gets: a purpose token, the caller's session, or none."""
        entry = find_purpose(self.purposes, call)
        if entry is not None:
            return self.authority.one_time_token(entry)
        if identity.is_anonymous:
            return None
        return self.authority.session_token(identity)

    def script_env(self, ws: Workspace) -> dict[str, str]:
        """The caller's environment, scrubbed, plus ``--env`` pairs, then HOME and SHARED_DIR.

        The first two are built once and reused while neither ``os.environ`` nor ``env``
        changes (a C-level comparison of the raw environment per run instead of decoding every
        variable again), so a test that sets a variable between runs still sees it. The scrub
        (:func:`~sss_emulator.core.environment.scrubbed_environment`, the one list of every
        front end) leaves out the emulator's settings and secrets and the user's credentials:
        a script must not learn the real server's password or read a production ini.
        """
        raw = _raw_environ()
        cache = self._env_cache
        if cache is None or raw is None or cache[0] != raw or cache[1] != self.env:
            base = scrubbed_environment(os.environ)
            base.update(self.env)
            cache = (None if raw is None else raw.copy(), dict(self.env), base)
            self._env_cache = cache
        env = dict(cache[2])
        env["HOME"] = str(ws.home)
        env["SHARED_DIR"] = str(ws.shared_dir)
        return env

    def run(
        self,
        request: CallRequest,
        *,
        identity: Identity | None = None,
        auth_token: str | None = None,
        on_stdout: StreamSink | None = None,
        on_stderr: StreamSink | None = None,
        keep: bool | None = None,
        cancel: threading.Event | None = None,
    ) -> RunOutcome:
        """Resolve, check, prepare, run and clean up one call.

        Raises an :class:`~sss_emulator.errors.EmulatorError` when the server would refuse the
        call; a timeout is reported in the outcome (``timed_out``, ``error``), not raised.
        Setting ``cancel`` from another thread stops the script's process group, removes the
        working directory and raises :class:`~sss_emulator.core.runner.RunCancelled` (watch mode).
        """
        identity = identity or self.identity
        script = resolve_script(request.call, self.bin_dirs)
        self.check_access(request.call, identity)
        token = auth_token if auth_token is not None else self.token_for(request.call, identity)
        keep = self.keep if keep is None else keep
        with workspace(
            skeleton=self.home,
            uploads=request.uploads,
            work_root=self.work_root,
            shared_root=self.shared_root,
            keep=keep,
            stage=self._stage,
        ) as ws:
            context = RunContext(request, script, ws, identity, token, self.script_env(ws))
            for hook in self.hooks:
                hook.before_run(context)
            ws.settle()
            argv = build_argv(script.path, token, request)
            try:
                result = self.runner(argv, cwd=ws.workdir, env=context.env,
                                     timeout=self.timeout, on_stdout=on_stdout,
                                     on_stderr=on_stderr, cancel=cancel)
            except OSError as exc:
                from sss_emulator.core.shebang import start_failure  # only when exec failed

                raise SetupError(start_failure(script.path, exc)) from exc
            error = None
            if result.timed_out:
                error = ScriptTimeout(
                    f"Script {request.call!r} did not finish within {self.timeout:g} s and was "
                    "stopped; raise --timeout or look for what it waits on."
                )
            outcome = RunOutcome(
                call=call_string(request),
                code=result.returncode,
                stdout_bytes=result.stdout,
                stderr_bytes=result.stderr,
                argv=redact_argv(argv),
                shared_dir=ws.shared_dir,
                workdir=ws.workdir,
                kept=keep,
                duration_s=result.duration_s,
                timed_out=result.timed_out,
                identity=identity,
                error=error,
                context_root=self.context_root,
                token=token,
                notes=(*self.notes, *map(ignored_field_note, request.ignored_fields)),
                script_call=request.call,
                ignored_fields=request.ignored_fields,
            )
            for hook in self.hooks:
                outcome = hook.after_run(context, outcome)
            return outcome
