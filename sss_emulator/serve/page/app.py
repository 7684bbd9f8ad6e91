"""A page to run scripts in the browser, the way users trigger them from the LinkAhead web UI.

Script authors want to see their script as their users will: through a form that posts to
``/scripting`` (the generic one, or the ``form_elements``-style config beside the script), with
stdout shown as HTML, stderr as an error and shared files as links. The server (``serve/app.py``)
routes ``GET /`` and everything under ``/sss/`` here; the forms post to the server's own
``/scripting``, so the page exercises exactly the API a real web UI uses.

The HTML is rendered here with plain string building (no template engine); the browser side is
one script and two stylesheets in ``static/``, shipped in the package.
"""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import hashlib
import json
import logging
import mimetypes
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from html import escape
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sss_emulator import decisions
from sss_emulator.core.call import ignored_field_note
from sss_emulator.core.permissions import is_allowed, permission_for
from sss_emulator.core.scripts import ResolvedScript, iter_scripts
from sss_emulator.core.tokens import Identity
from sss_emulator.serve.history import RunHistory, RunRecord
from sss_emulator.serve.page.forms import (
    FormConfig,
    FormConfigError,
    load_form_config,
    render_config_fields,
)

if TYPE_CHECKING:
    from sss_emulator.core.emulator import Emulator


class ServerApp(Protocol):
    """What the page needs of the scripting server it is mounted in (``serve.app.ServerApp``)."""

    @property
    def context_root(self) -> str: ...

    @property
    def emulator(self) -> Emulator: ...

    @property
    def history(self) -> RunHistory: ...

    def identity(self, request: Request) -> Identity | None: ...

    def may_debug(self, identity: Identity | None) -> bool: ...

__all__ = ("PageApp", "frame_script", "make_page_app", "page_csp", "run_json")

logger = logging.getLogger("sss_emulator.serve.page.app")

_STATIC_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*\Z")
#: How many runs the index and the script pages list.
HISTORY_SHOWN = 20

_URLS = Map(
    [
        Rule("/", endpoint="index"),
        Rule("/sss", endpoint="index"),
        Rule("/sss/", endpoint="index"),
        Rule("/sss/scripts/<path:call>", endpoint="script"),
        Rule("/sss/runs/<srid>", endpoint="run"),
        Rule("/sss/api/scripts", endpoint="api_scripts"),
        Rule("/sss/api/runs", endpoint="api_runs"),
        Rule("/sss/api/runs/<srid>", endpoint="api_run"),
        Rule("/sss/static/<name>", endpoint="static"),
    ],
    strict_slashes=False,
)


#: The one script the stdout frame may run: it reports the height of the output to the page, so
#: the frame can show it whole. Everything else in the frame is barred by a CSP that allows only
#: this script's hash (see :func:`frame_script`).
FRAME_SCRIPT_NAME = "frame-size.js"


@functools.cache
def frame_script() -> tuple[str, str]:
    """The frame's resize script and its CSP source (``'sha256-…'``), computed from one text.

    Pinning the hash, rather than allowing inline scripts, is what keeps a ``<script>`` or an
    ``onerror=`` in the script's stdout from running although the frame has ``allow-scripts``.
    """
    text = resources.files("sss_emulator.serve.page").joinpath(
        "static", FRAME_SCRIPT_NAME).read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return text, f"'sha256-{digest}'"


def page_csp() -> str:
    """The page's Content-Security-Policy; the stdout frame inherits it (``srcdoc``).

    Only our own files, plus the frame's pinned resize script; images may come from anywhere
    (a script's HTML may show some), nothing may embed the page.
    """
    return ("default-src 'self'; "
            f"script-src 'self' {frame_script()[1]}; "
            "style-src 'self' 'unsafe-inline'; img-src * data: blob:; media-src * data: blob:; "
            "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'")


@dataclass(frozen=True)
class _Viewer:
    """Who looks at the page: the identity their requests run as, and how we know."""

    identity: Identity | None  # None: a session cookie the server no longer accepts
    logged_in: bool


# --- reading what the server offers ---------------------------------------------------------


def _timestamp_iso(seconds: float) -> str:
    return _dt.datetime.fromtimestamp(seconds, _dt.UTC).isoformat(timespec="seconds")


#: How much of a run's stdout and stderr the page shows (a 200 MB output would not render).
PAGE_OUTPUT_BYTES = 1024 * 1024


def run_json(record: RunRecord, limit: int | None = PAGE_OUTPUT_BYTES) -> dict[str, Any]:
    """One run of the server's history as the page's JSON: what the result view shows.

    Outputs are cut at ``limit`` bytes; ``stdout_bytes``/``stderr_bytes`` say how long
    they really were.
    """
    return {
        "srid": record.srid,
        "script": record.script or record.call.split(" ", 1)[0],
        "call": record.call,
        "user": {"name": record.user, "roles": list(record.roles)},
        "code": record.code,
        "timed_out": record.timed_out,
        "duration_s": round(record.duration_s, 3),
        "stdout": record.stdout.text(limit),
        "stderr": record.stderr.text(limit),
        "stdout_bytes": record.stdout.size,
        "stderr_bytes": record.stderr.size,
        "shared_files": [{"name": name, "link": link} for name, link in record.shared_files],
        "mails": [{key: mail.get(key) for key in ("from", "to", "cc", "subject", "body")}
                  for mail in record.mails],
        "timestamp": _timestamp_iso(record.timestamp),
        "ignored_fields": list(record.ignored_fields),
        "notes": [ignored_field_note(name) for name in record.ignored_fields],
    }


def _may_see(viewer: _Viewer, run: Mapping[str, Any]) -> bool:
    """Runs are private: their output may hold the caller's token (minimal.bash prints it)."""
    if viewer.identity is None:
        return False
    if decisions.DEFAULT_ADMIN_ROLE in viewer.identity.roles:
        return True
    return bool(run["user"]["name"] == viewer.identity.name)


def _viewer(server_app: ServerApp, request: Request) -> _Viewer:
    """Whose runs these are: the holder of the request's session cookie."""
    identity = server_app.identity(request)
    return _Viewer(identity, logged_in=identity is not None and not identity.is_anonymous)


# --- HTML ------------------------------------------------------------------------------------


class PageApp:
    """The WSGI app of the page; one per server, reading scripts and history on each request."""

    def __init__(self, server_app: ServerApp) -> None:
        self.server_app = server_app

    # urls ----------------------------------------------------------------------------------

    @property
    def _root(self) -> str:
        root = self.server_app.context_root.strip("/")
        return f"/{root}" if root else ""

    def url(self, path: str) -> str:
        return f"{self._root}{path}"

    def script_url(self, call: str) -> str:
        return self.url("/sss/scripts/" + quote(call))

    # WSGI ----------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        path = request.path
        if self._root and (path == self._root or path.startswith(self._root + "/")):
            path = path[len(self._root):] or "/"
        try:
            endpoint, args = _URLS.bind("localhost").match(path)
            if request.method not in ("GET", "HEAD"):
                raise MethodNotAllowed(valid_methods=["GET", "HEAD"])
            if endpoint != "static" and self._locked(request):
                response = self._login_only(request, endpoint)
            else:
                response = getattr(self, f"on_{endpoint}")(request, **args)
        except HTTPException as exc:
            response = self._error_page(request, exc)
        body: Iterable[bytes] = response(environ, start_response)
        return body

    def _locked(self, request: Request) -> bool:
        """With anonymous access off, nobody sees scripts, paths or runs before logging in."""
        if self.server_app.emulator.anonymous_allowed:
            return False
        return not _viewer(self.server_app, request).logged_in

    def _login_only(self, request: Request, endpoint: str) -> Response:
        text = ("Log in to see the scripts of this server: anonymous access is off "
                "(start it with --anonymous to allow it).")
        if endpoint.startswith("api_"):
            body = json.dumps({"error": text, "status": 401})
            return Response(body, status=401, mimetype="application/json")
        html = f'<h1>Log in</h1><p class="lead">{escape(text)}</p>'
        return self._page(request, "Log in", html, status=401)

    # pages ---------------------------------------------------------------------------------

    def _page(self, request: Request, title: str, body: str, status: int = 200,
              extra: Mapping[str, str] | None = None) -> Response:
        viewer = _viewer(self.server_app, request)
        data = {
            "data-scripting": self.url("/scripting"),
            "data-api": self.url("/sss/api"),
            "data-pages": self.url("/sss"),
            "data-frame-css": self.url("/sss/static/frame.css"),
            "data-frame-script": frame_script()[0],
            "data-frame-script-hash": frame_script()[1],
            "data-form-field": decisions.WEBUI_FORM_FIELD,
            "data-form-file": decisions.WEBUI_FORM_FILENAME,
            "data-file-parts": ("field" if decisions.WEBUI_FILE_PARTS_NAMED_AFTER_FIELD
                                else "positional"),
            **(extra or {}),
        }
        attrs = "".join(f' {k}="{escape(v)}"' for k, v in data.items())
        html = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · sss-emulator</title>
<link rel="stylesheet" href="{self.url('/sss/static/page.css')}">
<script src="{self.url('/sss/static/page.js')}" defer></script>
</head>
<body{attrs}>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<a class="brand" href="{self.url('/')}">sss-emulator <span>server-side scripts</span></a>
{self._who(viewer)}
</header>
<main id="main" tabindex="-1">
{body}
</main>
</body>
</html>
"""
        response = Response(html, status=status, mimetype="text/html")
        response.headers["Content-Security-Policy"] = page_csp()
        return response

    def _who(self, viewer: _Viewer) -> str:
        if viewer.identity is None:
            state = "Your session has expired; log in again."
        elif viewer.identity.is_anonymous and self.server_app.emulator.anonymous_allowed:
            state = "Not logged in: you run scripts as <strong>anonymous</strong>."
        elif viewer.identity.is_anonymous:
            state = "Not logged in. Log in to run scripts (anonymous access is off)."
        else:
            roles = ", ".join(viewer.identity.roles) or "no roles"
            state = (f"You run scripts as <strong>{escape(viewer.identity.name)}</strong> "
                     f"<span class=\"roles\">({escape(roles)})</span>.")
        logout = ""
        if viewer.logged_in:
            logout = (f'<form class="logout" method="post" action="{self.url("/logout")}">'
                      '<button type="submit" class="account-button">Log out</button></form>')
        # Switching user and logging out are one group of look-alike buttons: both end the
        # current session's use of the page.
        switch = "Run as another user" if viewer.logged_in else "Log in"
        return f"""<div class="who" id="who"><p>{state}</p><div class="account">
<details class="login">
<summary class="account-button">{switch}</summary>
<form id="login-form" method="post" action="{self.url('/login')}">
<label for="login-user">User name</label>
<input id="login-user" name="username" autocomplete="username" required>
<label for="login-password">Password</label>
<input id="login-password" name="password" type="password" autocomplete="current-password">
<button type="submit">Log in</button>
<p class="login-error" role="alert" hidden></p>
</form>
</details>{logout}</div></div>"""

    def _error_page(self, request: Request, exc: HTTPException) -> Response:
        status = exc.code or 500
        if request.path.startswith(self.url("/sss/api/")):
            body = json.dumps({"error": exc.description, "status": status})
            return Response(body, status=status, mimetype="application/json")
        html = (f"<h1>{escape(exc.name)}</h1><p>{escape(exc.description or '')}</p>"
                f'<p><a href="{self.url("/")}">Back to the scripts</a></p>')
        response = self._page(request, exc.name, html, status=status)
        if isinstance(exc, MethodNotAllowed):
            response.headers["Allow"] = "GET, HEAD"
        return response

    # scripts --------------------------------------------------------------------------------

    def _scripts(self) -> Iterator[ResolvedScript | tuple[str, Any]]:
        return iter_scripts(self.server_app.emulator.bin_dirs)

    def _allowed(self, viewer: _Viewer, call: str) -> bool | None:
        if viewer.identity is None:
            return None
        emulator = self.server_app.emulator
        if viewer.identity.is_anonymous and not emulator.anonymous_allowed:
            return None  # nobody runs anything before logging in: that is the answer to show
        return is_allowed(viewer.identity.roles, permission_for(call),
                          emulator.users.role_permissions)

    def _script_entries(self, viewer: _Viewer) -> list[dict[str, Any]]:
        entries = []
        for item in self._scripts():
            if isinstance(item, ResolvedScript):
                call, path, executable = item.call, item.path, True
            else:
                (call, path), executable = item, False
            title = ""
            try:
                config = load_form_config(path, call)
            except FormConfigError:
                form = "broken config"
            else:
                form = "config" if config else "generic"
                title = config.title if config else ""
            entries.append({
                "call": call,
                "permission": permission_for(call),
                "executable": executable,
                "form": form,
                "title": title,
                "allowed": self._allowed(viewer, call) if executable else False,
                "url": self.script_url(call),
            })
        return entries

    def on_index(self, request: Request) -> Response:
        viewer = _viewer(self.server_app, request)
        rows = []
        for entry in self._script_entries(viewer):
            call = escape(entry["call"])
            if entry["executable"]:
                name = f'<a href="{escape(entry["url"])}">{call}</a>'
            else:
                name = f'{call} <span class="warn">not executable: chmod +x</span>'
            if entry["title"]:
                name += f'<span class="form-title">{escape(entry["title"])}</span>'
            allowed = {True: '<span class="yes">yes</span>', False: '<span class="no">no</span>',
                       None: '<span class="unknown">log in</span>'}[entry["allowed"]]
            rows.append(
                f'<tr><th scope="row" data-label="Script">{name}</th>'
                f'<td data-label="Permission"><code>{escape(entry["permission"])}</code></td>'
                f'<td data-label="Form">{escape(entry["form"])}</td>'
                f'<td data-label="You may run it">{allowed}</td></tr>'
            )
        dirs = ", ".join(f"<code>{escape(str(d))}</code>"
                         for d in self.server_app.emulator.bin_dirs) or "none"
        table = (
            '<table class="scripts"><caption>Scripts in the bin dirs</caption>'
            '<thead><tr><th scope="col">Script</th><th scope="col">Permission needed</th>'
            '<th scope="col">Form</th><th scope="col">You may run it</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>'
            if rows else '<p class="empty">No scripts found. Put executable files into a bin '
                         "dir (--bin-dir).</p>"
        )
        body = f"""<h1>Server-side scripts</h1>
<p class="lead">Bin dirs: {dirs}. Pick a script to run it through <code>{
            escape(self.url('/scripting'))}</code>, as the web UI does.</p>
{table}
{self._history_section(self._recent(viewer))}"""
        return self._page(request, "Scripts", body)

    def _recent(self, viewer: _Viewer, script: str | None = None) -> list[dict[str, Any]]:
        runs = (run_json(record, limit=0) for record in self.server_app.history.recent())
        chosen = [r for r in runs if (script is None or r["script"] == script)
                  and _may_see(viewer, r)]
        return chosen[:HISTORY_SHOWN]

    def _run(self, request: Request, srid: str) -> dict[str, Any]:
        """One run the viewer may see; others' runs are as unknown as missing ones."""
        record = self.server_app.history.get(srid)
        run = None if record is None else run_json(record)
        if run is None or not _may_see(_viewer(self.server_app, request), run):
            raise NotFound(f"No run {srid!r} of yours in the history (it keeps only the "
                           "latest runs).")
        return run

    def _history_section(self, runs: list[dict[str, Any]]) -> str:
        items = "".join(self._history_item(run) for run in runs)
        empty = "" if runs else '<p class="empty" id="history-empty">No runs yet.</p>'
        return (f'<section class="history" aria-labelledby="history-title">'
                f'<h2 id="history-title">Recent runs</h2>{empty}'
                f'<ol id="history">{items}</ol></section>')

    def _history_item(self, run: Mapping[str, Any]) -> str:
        ok = run["code"] == 0 and not run["timed_out"]
        state = "timed out" if run["timed_out"] else f"exit {run['code']}"
        return (f'<li><a href="{self.url("/sss/runs/" + quote(run["srid"]))}">'
                f'<code>{escape(run["call"])}</code></a> '
                f'<span class="badge {"ok" if ok else "fail"}">{escape(state)}</span> '
                f'<span class="meta">{escape(run["user"]["name"])} · '
                f'<time datetime="{escape(run["timestamp"])}">{escape(_readable(run["timestamp"]))}'
                "</time></span></li>")

    def on_script(self, request: Request, call: str) -> Response:
        viewer = _viewer(self.server_app, request)
        found = next((s for s in self._scripts()
                      if isinstance(s, ResolvedScript) and s.call == call), None)
        if found is None:
            raise NotFound(f"No executable script {call!r} in the bin dirs.")
        notice = ""
        try:
            config = load_form_config(found.path, call)
        except FormConfigError as exc:
            config = None
            notice = (f'<p class="notice error" role="alert">The form config cannot be used: '
                      f"{escape(str(exc))} Showing the generic form instead.</p>")
        debug = self.server_app.may_debug(viewer.identity)
        form = self._config_form(config, debug) if config else self._generic_form(call, debug)
        allowed = self._allowed(viewer, call)
        may = ("" if allowed is not False else
               '<p class="notice warn">You lack this permission: the server will refuse the '
               "run (log in as a user whose role grants it).</p>")
        title = escape(config.title) if config and config.title else f"<code>{escape(call)}</code>"
        description = (f"<p>{escape(config.description)}</p>"
                       if config and config.description else "")
        body = f"""<p class="crumbs"><a href="{self.url('/')}">All scripts</a></p>
<h1>{title}</h1>
{description}
<p class="lead">Needs <code>{escape(permission_for(call))}</code>. File: <code>{
            escape(str(found.path))}</code></p>
{may}{notice}
{form}
<section id="result" class="result" aria-live="polite" aria-labelledby="result-title" hidden>
</section>
{self._history_section(self._recent(viewer, call))}"""
        return self._page(request, call, body)

    def _generic_form(self, call: str, debug: bool) -> str:
        positional = "".join(_positional_row(i) for i in range(2))
        options = "".join(_option_row(i) for i in range(2))
        return f"""<form class="run-form" id="run-form" data-mode="generic" data-call="{
            escape(call)}" novalidate>
<p class="hint">Empty rows at the end are left out; a file replaces the text of its row.</p>
<fieldset><legend>Positional arguments (<code>-p0</code>, <code>-p1</code>, …)</legend>
<div class="rows" data-rows="positional">{positional}</div>
<button type="button" class="secondary" data-add="positional">Add a positional argument</button>
</fieldset>
<fieldset><legend>Options (<code>-O&lt;name&gt;</code> → <code>--name=value</code>)</legend>
<div class="rows" data-rows="option">{options}</div>
<button type="button" class="secondary" data-add="option">Add an option</button>
</fieldset>
{_run_button(debug)}
</form>"""

    def _config_form(self, config: FormConfig, debug: bool) -> str:
        source = escape(config.source.name) if config.source else "form config"
        return f"""<form class="run-form" id="run-form" data-mode="config" data-call="{
            escape(config.script)}">
<p class="hint">Form from <code>{source}</code>: sent as <code>{
            escape(decisions.WEBUI_FORM_FILENAME)}</code> in <code>{
            escape(decisions.WEBUI_FORM_FIELD)}</code> with the files, as the web UI's
<code>form_elements</code> does.</p>
{render_config_fields(config)}
{_run_button(debug)}
</form>"""

    def on_run(self, request: Request, srid: str) -> Response:
        run = self._run(request, srid)
        body = f"""<p class="crumbs"><a href="{self.url('/')}">All scripts</a> ·
<a href="{escape(self.script_url(run['script']))}">Run <code>{escape(run['script'])}</code>
again</a></p>
<h1>Run of <code>{escape(run['script'])}</code></h1>
<section id="result" class="result" aria-live="polite" aria-labelledby="result-title"
 data-srid="{escape(srid)}"><p>Loading the run…</p></section>"""
        return self._page(request, f"Run {srid}", body)

    # JSON -----------------------------------------------------------------------------------

    def on_api_scripts(self, request: Request) -> Response:
        viewer = _viewer(self.server_app, request)
        return _json({"scripts": self._script_entries(viewer)})

    def on_api_runs(self, request: Request) -> Response:
        viewer = _viewer(self.server_app, request)
        return _json({"runs": [_summary(r) for r in self._recent(viewer)]})

    def on_api_run(self, request: Request, srid: str) -> Response:
        return _json(self._run(request, srid))

    def on_static(self, request: Request, name: str) -> Response:
        if not _STATIC_NAME.match(name):
            raise NotFound()
        asset = resources.files("sss_emulator.serve.page").joinpath("static", name)
        if not asset.is_file():
            raise NotFound(f"No asset {name!r}.")
        mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        response = Response(asset.read_bytes(), mimetype=mimetype)
        response.headers["Cache-Control"] = "no-cache"
        return response


def _readable(iso: str) -> str:
    return iso.replace("T", " ").removesuffix("+00:00") + (" UTC" if iso.endswith("+00:00")
                                                            else "")


def _summary(run: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("srid", "script", "call", "user", "code", "timed_out", "duration_s", "timestamp")
    return {k: run[k] for k in keep}


def _json(data: Any) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), mimetype="application/json")


def _run_button(debug: bool) -> str:
    """The run button, and the "wait for a debugger" field for those who may ask for one
    (the server refuses the others: ``ServerApp.may_debug``)."""
    return ('<noscript><p class="notice warn">This form sends its fields with JavaScript, as '
            "the web UI does; turn JavaScript on, or post to /scripting with curl.</p>"
            "</noscript>"
            '<div class="actions"><button type="submit" class="primary">Run script</button>'
            '<span class="status" role="status"></span></div>'
            + (_debug_wait_field() if debug else ""))


def _debug_wait_field() -> str:
    """Python scripts only: the run waits for a debugger on 127.0.0.1:PORT (docs/debugging.md).

    Sent as a request header, not a form field, so the script's arguments stay the same."""
    return ('<p class="debug-wait"><input type="checkbox" id="debug-wait"> <label '
            'for="debug-wait">Wait for a debugger (Python scripts)</label> <label '
            'for="debug-port">on 127.0.0.1, port</label> <input id="debug-port" type="number" '
            'min="1" max="65535" value="5678"></p>')


def _positional_row(index: int) -> str:
    return f"""<div class="row" data-index="{index}">
<div class="cell"><label for="p{index}">Value of <code>-p{index}</code></label>
<input id="p{index}" data-part="text" autocomplete="off"></div>
<div class="cell"><label for="p{index}-file">or a file for <code>-p{index}</code></label>
<input id="p{index}-file" type="file" data-part="file"></div>
</div>"""


def _option_row(index: int) -> str:
    return f"""<div class="row" data-index="{index}">
<div class="cell"><label for="o{index}-name">Option name</label>
<input id="o{index}-name" data-part="name" autocomplete="off" placeholder="e.g. title"></div>
<div class="cell"><label for="o{index}-value">Value</label>
<input id="o{index}-value" data-part="text" autocomplete="off"></div>
<div class="cell"><label for="o{index}-file">or a file</label>
<input id="o{index}-file" type="file" data-part="file"></div>
</div>"""


def make_page_app(server_app: ServerApp) -> PageApp:
    """The page's WSGI app over a server: needs ``.emulator``, ``.history``, ``.context_root``.

    The server mounts it at ``GET /`` and under ``/sss/``; its forms post to the server's own
    ``<context root>/scripting``.
    """
    return PageApp(server_app)
