"""The scripting API over HTTP: a WSGI app that answers like a LinkAhead server.

``make_app(config)`` builds the app and does no I/O; :mod:`sss_emulator.httpd` runs it. Every
request is turned into one :meth:`Emulator.run` call (``POST /scripting``) or a small answer of
its own (login, logout, shared files, static pages); every other path goes to the LinkAhead
stand-in of :mod:`sss_emulator.backend` when it is installed, so scripts can call back.

Routes, below the context root::

    POST /scripting                 run a script (urlencoded or multipart)
    POST /login, any /logout        sessions (cookie ``SessionToken``)
    GET  /Shared/<random>/<file>    files scripts left in SHARED_DIR
    GET  /webinterface/html/<page>  the profile's static pages (caosdb-webui/src/ext/html)
    GET  /, /sss/…                  the browser page (serve.page), else a script list
    anything else                   the LinkAhead stand-in, else ``GET /Info`` only
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from werkzeug.security import safe_join
from werkzeug.utils import send_file
from werkzeug.wrappers import Request, Response

from sss_emulator import decisions
from sss_emulator.config import UsersConfig
from sss_emulator.connect.accounts import access_control, live_users
from sss_emulator.connect.address import AddressListener
from sss_emulator.connect.standin import point_run_at
from sss_emulator.core.call import request_from_form
from sss_emulator.core.hooks import RunContext
from sss_emulator.core.outcome import RunOutcome
from sss_emulator.core.render import ResponseMeta, render_error_xml
from sss_emulator.core.roots import owner_tag, private_dir, standin_root
from sss_emulator.core.runner import RunCancelled
from sss_emulator.core.scripts import resolve_script
from sss_emulator.core.tokens import Identity, find_purpose
from sss_emulator.cross_site import foreign_site, refusal
from sss_emulator.devtools.debug import (
    DEBUG_WAIT_HEADER,
    DebugRunner,
    attach_instructions,
    parse_debug_wait,
    require_debugpy,
)
from sss_emulator.errors import (
    BadRequestForm,
    ConfigError,
    EmulatorError,
    NotAuthenticated,
    PermissionDenied,
    SetupError,
)
from sss_emulator.invocation import Emulator
from sss_emulator.serve.disconnect import cancel_on_disconnect
from sss_emulator.serve.form import FormLimits, read_form
from sss_emulator.serve.history import RunHistory
from sss_emulator.serve.logins import (
    Sessions,
    default_users,
    session_cookie_header,
    token_from_cookie_header,
)
from sss_emulator.serve.stream_xml import STREAM_THRESHOLD, stream_response_xml
from sss_emulator.streamed_body import is_streamed, spooled_body
from sss_emulator.terminal import say
from sss_emulator.wire import below_context_root, not_in_xml, user_info_element

__all__ = ("XML_CONTENT_TYPE", "ServerApp", "ServerConfig", "make_app")

logger = logging.getLogger("sss_emulator.serve.app")

XML_CONTENT_TYPE = "text/xml; charset=UTF-8"
#: Served with every file under ``/Shared/``: no scripts, no forms, no plugins, opaque origin.
SHARED_FILE_CSP = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"

#: Control characters: none may go into a header (a file's name in Content-Disposition).
_CONTROL = re.compile("[\x00-\x1f\x7f]")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass
class ServerConfig:
    """What a server needs beyond its emulator.

    Attributes:
        emulator: runs the scripts; its ``users.role_permissions``, ``anonymous_allowed``,
            ``context_root`` and ``authority`` are the server's too.
        users: who may log in; default the emulator's users, else one ``admin`` whose password
            is ``SSS_ADMIN_PASSWORD`` or generated (``ServerApp.generated_password``).
        static_dir: the profile's ``caosdb-webui/src/ext/html`` folder.
        limits: body size limits (413 past them).
        history_size: how many runs ``ServerApp.history`` keeps.
        public_url: ``http(s)://host:port`` scripts use to call back; :func:`serve` sets it.
        cacert: the certificate scripts trust when the server speaks TLS.
        backend: mount the LinkAhead stand-in when it is installed.
        data_files: data model and record files the stand-in's store starts with.
        sqlite_path: a SQLite file the stand-in keeps its entities in across restarts.
        file_root: a folder the stand-in keeps every stored file in (the scripts' caosroot).
        address_listener: where scripts expect the server (``--server-address``); their ini
            names it, and :meth:`ServerApp.close` stops it.
        allow_debug_wait: every caller who may run a script may also ask for a debugger
            (``serve --allow-debug-wait``); otherwise only the ``administration`` role may.
    """

    emulator: Emulator
    users: UsersConfig | None = None
    static_dir: Path | None = None
    limits: FormLimits = field(default_factory=FormLimits)
    history_size: int = 200
    public_url: str | None = None
    cacert: Path | None = None
    backend: bool = True
    data_files: tuple[Path, ...] = ()
    sqlite_path: Path | None = None
    file_root: Path | None = None
    address_listener: AddressListener | None = None
    allow_debug_wait: bool = False


def make_app(config: ServerConfig) -> ServerApp:
    """The WSGI app for ``config``; nothing is bound, started or written.

    >>> app = make_app(ServerConfig(Emulator(bin_dirs=["sample_scripts"])))  # doctest: +SKIP
    >>> from werkzeug.test import Client                                       # doctest: +SKIP
    >>> Client(app).post("/login", data={"username": "admin", "password": "…"})  # doctest: +SKIP
    """
    return ServerApp(config)


class _ServerHook:
    """Points each run's ``.pylinkahead.ini`` at this server and its mail capture, tracks runs
    in flight, and gives each outcome the mails that arrived while it ran."""

    def __init__(self, app: ServerApp) -> None:
        self._app = app

    def before_run(self, context: RunContext) -> None:
        self._app._track(context.workspace.workdir)
        url = self._app.script_url()
        stand_in = self._app.stand_in()
        if url is None or stand_in is None:
            return
        cacert = str(self._app.cacert) if self._app.cacert else None
        listener = self._app.config.address_listener
        if listener is not None:
            cacert = str(listener.cert) if listener.cert else None
        point_run_at(context, stand_in, url=url, cacert=cacert)
        self._app._local.mails_before = len(stand_in.collector.mails)

    def close(self) -> None:
        """The server closes the stand-in it mounted; nothing is the hook's own."""

    def after_run(self, context: RunContext, outcome: RunOutcome) -> RunOutcome:
        stand_in = self._app.stand_in()
        before = getattr(self._app._local, "mails_before", None)
        if stand_in is None or before is None:
            return outcome
        # Runs in parallel share one capture: a mail is given to the run that was going on
        # when it arrived, which is exact for one run at a time.
        mails = tuple(m.to_dict() for m in stand_in.collector.mails[before:])
        for mail in mails:
            logger.info("captured mail to %s: %s", ", ".join(mail["to"]), mail["subject"])
        return dataclasses.replace(outcome, mails=mails)


class ServerApp:
    """The WSGI application; also holds the sessions and the history of recent runs."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.emulator = config.emulator
        users, self.generated_password = default_users(config.users or self.emulator.users)
        #: The users, roles and permissions of this server (``None`` without the stand-in):
        #: logins, the scripting check and the stand-in all read it, and the administration
        #: API changes it (``connect/accounts.py``).
        self.access = _access_control(config, users)
        if self.access is not None:
            users = live_users(lambda: self.access, users)
            self.emulator.users = users
        self.users = users
        self.sessions = Sessions(users, self.emulator.authority)
        self.history = RunHistory(
            config.history_size,
            spool_dir=self.emulator.work_root / f"history-{owner_tag()}-{os.urandom(4).hex()}")
        self.context_root = self.emulator.context_root.strip("/")
        self.public_url = config.public_url
        self.cacert = config.cacert
        self.backend_recorder: Any = None
        self.store: Any = None
        """The stand-in's entity store, once the stand-in is mounted."""
        self._local = threading.local()
        self._lock = threading.Lock()
        self._active: dict[int, Path] = {}
        self._backend: WsgiApp | None = None
        self._backend_loaded = False
        self._stand_in: Any = None
        self._page: WsgiApp | None = None
        if not any(isinstance(h, _ServerHook) for h in self.emulator.hooks):
            self.emulator.hooks.append(_ServerHook(self))

    # --- WSGI ----------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except Exception:
            logger.exception("internal error answering %s %s", request.method, request.path)
            response = self._error(500, "The emulator failed internally; see the server's "
                                        "log for the traceback.", None, request)
        if isinstance(response, Response):
            self._renew_session(request, response)
        return response(environ, start_response)

    def _renew_session(self, request: Request, response: Response) -> None:
        """Answer a request made with a valid session with a renewed one, as the server does
        (:data:`~sss_emulator.decisions.SESSION_RENEWED_PER_REQUEST`): the page stays logged
        in while it is used, and a token that leaked expires like any other."""
        if (not decisions.SESSION_RENEWED_PER_REQUEST or response.status_code >= 400
                or "Set-Cookie" in response.headers):
            return
        token = self._token(request)
        renewed = self.sessions.renew(token) if token else None
        if renewed is not None:
            response.headers["Set-Cookie"] = session_cookie_header(
                renewed, self._cookie_path(), secure=request.scheme == "https")

    def dispatch(self, request: Request) -> Response | WsgiApp:
        """Pick the handler for a request (paths are taken below the context root)."""
        odd = not_in_xml(request.path, *(text for pair in request.args.items(multi=True)
                                         for text in pair))
        if odd is not None:  # the error document names the path: lxml could not write it
            return self._error(decisions.CONTROL_CHARACTER_STATUS,
                               f"The request's path or query holds the character {odd!r} "
                               f"(U+{ord(odd):04X}), which no path, id or name of this server "
                               "contains; remove it.", None, request)
        path = self._relative(request.path)
        if path is None:
            return self._error(404, f"{request.path} is not below this server's context root "
                                    f"/{self.context_root}.", None, request)
        head = path.strip("/").split("/", 1)[0]
        # A logout ends the session on any method (pylib's is a GET), so it counts as a change.
        foreign = foreign_site(request.environ, changes_state=head == "logout" or None)
        if foreign is not None:
            logger.warning("refused a cross-site %s %s from %s", request.method, path, foreign)
            return self._error(403, refusal(request.method, foreign), None, request)
        if path.rstrip("/") == "/scripting":
            if request.method != "POST":
                return self._error(405, "Use POST to run a script (form fields call, -pN, "
                                        "-O<name>).", None, request, allow="POST")
            return self._scripting(request)
        if head == "login":
            if request.method != "POST":
                return self._error(405, "Log in with POST /login and the form fields username "
                                        "and password.", None, request, allow="POST")
            return self._login(request)
        if head == "logout":
            return self._logout(request)
        if head == "Shared" and request.method in ("GET", "HEAD"):
            return self._shared(request, path[len("/Shared/"):])
        if path.startswith("/webinterface/html/") and request.method in ("GET", "HEAD"):
            return self._static(request, path[len("/webinterface/html/"):])
        if path == "/" or head == "sss":
            return self._page_app()
        backend = self._backend_app()
        if backend is not None:
            return backend
        if head == "Info" and request.method in ("GET", "HEAD"):
            return self._info(request)
        return self._error(404, f"This server has no resource {request.method} {path}.", None,
                           request)

    # --- helpers -------------------------------------------------------------------------------

    def _relative(self, path: str) -> str | None:
        return below_context_root(path, self.context_root)

    def base_uri(self, request: Request | None = None) -> str:
        """``scheme://host:port[/context-root]`` as clients see this server."""
        base = self.public_url or (request.host_url if request is not None else "")
        base = base.rstrip("/")
        return f"{base}/{self.context_root}" if self.context_root else base

    def script_url(self) -> str | None:
        """The URL a script's ``.pylinkahead.ini`` gets (``None`` before anything is known)."""
        listener = self.config.address_listener
        base = (listener.address.base if listener is not None
                else self.public_url or getattr(self._local, "host_url", None))
        if not base:
            return None
        base = base.rstrip("/")
        return f"{base}/{self.context_root}" if self.context_root else base

    def _meta(self, request: Request, identity: Identity | None, srid: str | None = None
              ) -> ResponseMeta:
        meta = ResponseMeta(identity=identity, baseuri=self.base_uri(request))
        if srid is not None:
            meta = ResponseMeta(identity=identity, baseuri=meta.baseuri, srid=srid)
        return meta

    def _error(self, status: int, description: str, identity: Identity | None,
               request: Request, **headers: str) -> Response:
        body = render_error_xml(status, description, self._meta(request, identity))
        response = Response(body, status=status, content_type=XML_CONTENT_TYPE)
        for name, value in headers.items():
            response.headers[name.replace("_", "-").title()] = value
        return response

    def _token(self, request: Request) -> str | None:
        return token_from_cookie_header(request.headers.get("Cookie"))

    def identity(self, request: Request) -> Identity | None:
        """Who the request acts as: its session's user, anonymous without a cookie, else None."""
        return self.sessions.identity_for(self._token(request))

    def _cookie_path(self) -> str:
        return f"/{self.context_root}" if self.context_root else "/"

    # --- POST /scripting -----------------------------------------------------------------------

    def _scripting(self, request: Request) -> Response:
        identity = self.identity(request)
        if identity is None:
            return self._error(401, "Your SessionToken is unknown, expired or logged out; log "
                                    "in again (POST /login).", None, request)
        if identity.is_anonymous and not self.emulator.anonymous_allowed:
            error = NotAuthenticated("Anonymous access is disabled; log in first (POST /login) "
                                     "or start the server with --anonymous.")
            return self._error(error.http_status, error.message, None, request)
        try:
            debug_port = self._debug_wait(request, identity)
        except EmulatorError as error:
            logger.info("refused %s a debugger: %s", identity.name, error.message)
            return self._error(error.http_status, error.message, identity, request)
        self._local.host_url = request.host_url
        srid = os.urandom(16).hex()
        meta = self._meta(request, identity, srid)
        upload_dir = self._upload_dir()

        def check_call(call: str) -> None:
            # As soon as the call is known (pylib and browsers send it first): a script that
            # does not exist or may not be run refuses the request before any upload is stored.
            resolve_script(call, self.emulator.bin_dirs)
            self.emulator.check_access(call, identity)

        try:
            fields = read_form(request.environ, upload_dir, self.config.limits,
                               on_call=check_call)
            call_request = request_from_form(fields)
            token = None
            if find_purpose(self.emulator.purposes, call_request.call) is None:
                token = self.sessions.script_token(identity, self._token(request))
            if debug_port is None:
                outcome = self.emulator.run(call_request, identity=identity, auth_token=token)
            else:
                # nobody attaches once the client is gone: its waiting process ends with it
                with cancel_on_disconnect(request.environ.get("werkzeug.socket")) as gone:
                    outcome = self._debug_emulator(debug_port).run(
                        call_request, identity=identity, auth_token=token, cancel=gone)
        except EmulatorError as error:
            logger.info("refused %s: %s", identity.name, error.message)
            return self._error(error.http_status, error.message, identity, request)
        except RunCancelled:
            logger.info("the client of %s's debugged run went away; it was stopped",
                        identity.name)
            return self._error(400, "The client went away while the run waited for a "
                                    "debugger; the run was stopped.", identity, request)
        finally:
            if upload_dir.exists():
                shutil.rmtree(upload_dir, ignore_errors=True)
            self._untrack()
        self.history.record(srid, outcome)
        status = 500 if outcome.timed_out or outcome.code is None else 200
        if status == 200 and (len(outcome.stdout_bytes) + len(outcome.stderr_bytes)
                              > STREAM_THRESHOLD):
            # A large output is escaped and sent piece by piece instead of being copied into
            # one document (which took five times the output's size).
            return Response(stream_response_xml(outcome, meta), status=status,
                            content_type=XML_CONTENT_TYPE)
        return Response(outcome.to_xml(meta), status=status, content_type=XML_CONTENT_TYPE)

    def may_debug(self, identity: Identity | None) -> bool:
        """May this caller ask for a debugger? A waiting debugpy port lets any local process
        that attaches run code as the developer, so only the ``administration`` role may,
        unless the server was started with ``--allow-debug-wait`` (docs/debugging.md)."""
        if identity is None:
            return False
        if self.config.allow_debug_wait:
            return True
        return (not identity.is_anonymous
                and decisions.DEFAULT_ADMIN_ROLE in identity.roles)

    def _debug_wait(self, request: Request, identity: Identity) -> int | None:
        """The port the page's "wait for a debugger" field asks for (``X-SSS-Debug-Wait:
        PORT``, a header, never a form field, which the script would see), or None.

        Refused (403) before the body is read for a caller who may not ask for one."""
        wait = request.headers.get(DEBUG_WAIT_HEADER, "").strip()
        if not wait:
            return None
        try:
            parsed = parse_debug_wait(wait, DEBUG_WAIT_HEADER)
        except ConfigError as exc:  # the client's header, not the server's configuration
            raise BadRequestForm(exc.message) from None
        if parsed is None:
            return None
        if not self.may_debug(identity):
            raise PermissionDenied(
                f"{identity.name} may not ask for a debugger ({DEBUG_WAIT_HEADER}): it opens "
                "a port any local process can attach to and run code through. Log in with "
                f"the {decisions.DEFAULT_ADMIN_ROLE} role, or start serve with "
                "--allow-debug-wait.")
        require_debugpy()
        return parsed[0]

    def _debug_emulator(self, port: int) -> Emulator:
        """The emulator of one debugged run: the same hooks, a runner that waits for a
        debugger at most the run's timeout (docs/debugging.md)."""
        emulator = copy.copy(self.emulator)  # the runner is per run; hooks stay shared

        def on_listening(host: str, port: int) -> None:
            say(sys.stderr, attach_instructions(host, port, "a run from the page"))

        emulator.runner = DebugRunner(port, on_listening=on_listening,
                                      attach_timeout=self.emulator.timeout)
        return emulator

    def _upload_dir(self) -> Path:
        """A fresh name below the work root; created only if the body carries files."""
        root = private_dir(self.emulator.work_root)
        return root / f"upload-{owner_tag()}-{os.urandom(8).hex()}"

    def _track(self, workdir: Path) -> None:
        with self._lock:
            self._active[threading.get_ident()] = workdir

    def _untrack(self) -> None:
        with self._lock:
            self._active.pop(threading.get_ident(), None)

    # --- sessions ------------------------------------------------------------------------------

    def _login(self, request: Request) -> Response:
        limit = self.config.limits.max_field
        length = request.content_length
        too_large = self._error(413, f"The login form is larger than {limit} bytes; send only "
                                     "the fields username and password.", None, request)
        if length is not None and length > limit:
            return too_large
        if not is_streamed(request.environ):
            return self._check_login(request)
        # A chunked login: counted, refused past the limit (werkzeug would stop reading there
        # and parse an empty form: a "wrong password" for a body it never read).
        environ = dict(request.environ)
        with spooled_body(environ, limit) as fits:
            return self._check_login(Request(environ)) if fits else too_large

    def _check_login(self, request: Request) -> Response:
        request.max_form_memory_size = self.config.limits.max_field
        request.max_content_length = self.config.limits.max_field
        try:
            username = request.form.get("username", "")
            password = request.form.get("password", "")
        except Exception as exc:  # werkzeug raises HTTP errors for unparsable or huge bodies
            return self._error(400, f"The login form could not be read ({exc}); send the "
                                    "fields username and password urlencoded.", None, request)
        result = self.sessions.login(username, password)
        if result is None:
            response = self._error(401, f"Wrong user name or password for {username!r}.", None,
                                   request)
            return response
        body = _user_info_document(result.identity)
        response = Response(body, status=200, content_type=XML_CONTENT_TYPE)
        response.headers["Set-Cookie"] = session_cookie_header(
            result.token, self._cookie_path(), secure=request.scheme == "https")
        return response

    def _logout(self, request: Request) -> Response:
        self.sessions.logout(self._token(request))
        response = Response(_user_info_document(None), status=200,
                            content_type=XML_CONTENT_TYPE)
        response.headers["Set-Cookie"] = session_cookie_header(
            None, self._cookie_path(), secure=request.scheme == "https")
        return response

    def _info(self, request: Request) -> Response:
        token = self._token(request)
        info = self.sessions.verify(token)
        identity = self.sessions.current(info) if info is not None else None
        if identity is None:
            return self._error(401, "Please log in: send a valid SessionToken cookie.", None,
                               request)
        return Response(_user_info_document(identity), status=200,
                        content_type=XML_CONTENT_TYPE)

    # --- files ---------------------------------------------------------------------------------

    def _shared(self, request: Request, rest: str) -> Response:
        try:
            root = private_dir(self.emulator.shared_root)  # never a root another user planted
        except SetupError as error:
            return self._error(error.http_status, error.message, None, request)
        joined = safe_join(str(root), *rest.split("/")) if rest and "\\" not in rest else None
        path = Path(joined) if joined else None
        if path is not None and not decisions.SHARED_FOLLOWS_SYMLINKS_OUT:
            try:
                path.resolve().relative_to(root.resolve())
            except (ValueError, OSError):
                path = None
        if path is None or rest.count("/") < 1 or not path.is_file():
            return self._error(404, f"No shared file {rest!r}; links look like "
                                    "/Shared/<random name>/<file>.", None, request)
        if _CONTROL.search(path.name):
            # send_file names the file in Content-Disposition; werkzeug refuses a CR LF there
            # (else it would be a header of the script's choosing): a 4xx that says why.
            return self._error(decisions.CONTROL_CHARACTER_STATUS,
                               f"The shared file {path.name!r} cannot be sent: its name holds a "
                               "control character, which cannot go into the answer's headers; "
                               "let the script name it without one.", None, request)
        response = send_file(path, request.environ, conditional=True)
        # A script's file is the script's, not this server's: an .html or .svg left there must
        # not run as the visitor on this origin (and drive /scripting with their cookie). The
        # sandbox gives it an opaque origin and no scripts; nosniff keeps types as declared.
        response.headers["Content-Security-Policy"] = SHARED_FILE_CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    def _static(self, request: Request, name: str) -> Response:
        folder = self.config.static_dir
        if folder is not None and name and "/" not in name and "\\" not in name:
            joined = safe_join(str(folder), name)
            if joined and Path(joined).is_file():
                return send_file(joined, request.environ, conditional=True)
        where = folder or "the profile's caosdb-webui/src/ext/html (start with --profile)"
        return self._error(404, f"No static page {name!r} in {where}.", None, request)

    # --- the page and the stand-in --------------------------------------------------------------

    def _page_app(self) -> WsgiApp:
        """The browser page (built on first use: it reads its assets)."""
        with self._lock:
            if self._page is None:
                from sss_emulator.serve.page.app import make_page_app

                self._page = make_page_app(self)
        return self._page

    def load_backend(self) -> bool:
        """Mount the LinkAhead stand-in now (loading ``data_files``) instead of on first use.

        Returns whether it is available; errors in data files surface here, at start-up.
        """
        return self._backend_app() is not None

    def _backend_app(self) -> WsgiApp | None:
        if self._backend_loaded or not self.config.backend:
            return self._backend
        with self._lock:
            if not self._backend_loaded:
                self._backend = self._make_backend()
                self._backend_loaded = True
        return self._backend

    def _make_backend(self) -> WsgiApp | None:
        from sss_emulator.backend import DataFileError, EntityStore, StandIn

        standin_root()  # what SIGKILLed emulators' stand-ins left there goes
        try:
            stand_in = StandIn(
                authenticate=self.sessions.accept_current,
                data_files=self.config.data_files,
                store=EntityStore(sqlite_path=self.config.sqlite_path),
                context_root=self.context_root,
                listen=False,  # mounted here, on the server's own port
                access=self.access,
                anonymous=self.emulator.anonymous_allowed,
                file_root=self.config.file_root,
                owner=owner_tag(),
            )
        except DataFileError as exc:
            raise ConfigError(str(exc)) from exc
        if self.config.file_root is not None:
            stand_in.store.keep_files_in(self.config.file_root)
        self._stand_in = stand_in.start()
        self.backend_recorder = stand_in.recorder
        self.store = stand_in.store
        app: WsgiApp = stand_in.app
        return app

    def stand_in(self) -> Any:
        """The mounted stand-in (store, recorder, mail capture), or None without a backend."""
        self._backend_app()
        return self._stand_in

    # --- shutdown ------------------------------------------------------------------------------

    def active_runs(self) -> list[Path]:
        """Working directories of the runs in flight."""
        with self._lock:
            return list(self._active.values())

    def close(self, grace_s: float = 1.0) -> None:
        """Give runs in flight ``grace_s``, then stop them (TERM, grace, KILL) and clean up."""
        self._wait_idle(grace_s)
        self.history.close()
        leftovers = self.active_runs()
        close_emulator = getattr(self.emulator, "close", None)  # stops what its hooks started
        if not leftovers:
            if close_emulator is not None:
                close_emulator()
            self._close_stand_in()
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for workdir in self.active_runs():
                _signal_processes_in(workdir, sig)
            if self._wait_idle(decisions.KILL_GRACE_S):
                break
        for workdir in leftovers:
            shutil.rmtree(workdir, ignore_errors=True)
        if close_emulator is not None:
            close_emulator()
        self._close_stand_in()

    def _close_stand_in(self) -> None:
        if self.config.address_listener is not None:
            self.config.address_listener.close()
        if self._stand_in is not None:
            self._stand_in.stop()
            self._stand_in = None
        if self.access is not None:
            self.access.close()

    def _wait_idle(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while self.active_runs() and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self.active_runs()


def _access_control(config: ServerConfig, users: UsersConfig) -> Any:
    """The server's users, roles and permissions, from the users file (and ``--db``)."""
    if not config.backend:
        return None
    try:
        return access_control(users, sqlite_path=config.sqlite_path)
    except ImportError:  # the stand-in's dependencies are not installed
        return None


def _user_info_document(identity: Identity | None) -> bytes:
    root = etree.Element("Response")
    if identity is not None:
        root.append(user_info_element(identity.name, identity.realm, identity.roles))
    document: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8",
                                     pretty_print=True)
    return document


def _signal_processes_in(workdir: Path, sig: signal.Signals) -> None:
    """Signal the process groups whose working directory lies in ``workdir`` (Linux /proc)."""
    from sss_emulator.core.processes import running_in

    for process in running_in(workdir):
        try:
            os.killpg(process.pgid, sig)
            logger.info("sent %s to process %s running in %s", sig.name, process.pid, workdir)
        except OSError:
            continue
