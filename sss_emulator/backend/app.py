"""The WSGI app answering the calls a script makes back to "its" LinkAhead server.

Routes (below an optional context root): ``GET Info``, ``GET Entity?query=…``, ``GET Entity/<ids>``,
``POST Entity`` (XML or multipart with a ``FileRepresentation`` part), ``PUT Entity``,
``DELETE Entity/<ids>``, ``GET FileSystem/<path>`` and ``DELETE logout``. Every request needs a
``SessionToken`` cookie the ``authenticate`` callable accepts; anything else gets 401.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from sss_emulator import decisions
from sss_emulator.backend import messages
from sss_emulator.backend.acl import entity_acl, render_entity_permissions, same_acl
from sss_emulator.backend.entity_xml import (
    EntityXmlError,
    parse_entities,
    render_entity,
    render_message,
    response_element,
    selection,
    to_bytes,
    user_info,
)
from sss_emulator.backend.model import Entity, Message, Principal, UserRecord
from sss_emulator.backend.query.evaluate import QueryRun, evaluate, evaluate_versions
from sss_emulator.backend.query.parser import QuerySyntaxError, parse_query
from sss_emulator.backend.store import EntityStore, StoreWriteError
from sss_emulator.cross_site import foreign_site, refusal
from sss_emulator.streamed_body import is_streamed, spooled_body
from sss_emulator.wire import (
    below_context_root,
    context_root_prefix,
    not_in_xml,
    session_cookie_header,
    token_from_cookie_header,
)

__all__ = ["Authenticate", "CallRecorder", "make_backend_app"]

_log = logging.getLogger("sss_emulator.backend.app")

Authenticate = Callable[[str], Principal | None]
"""Gets the url-unquoted ``SessionToken`` cookie value; None means 401."""

_XML = "text/xml; charset=utf-8"
_ADMIN_RESOURCES = frozenset(
    {"User", "UserRoles", "Role", "PermissionRules", "EntityPermissions", "EntityACL"}
)
"""User and permission administration: read where the stand-in can answer, else refused."""
_PAGE = re.compile(r"^(\d+)L(\d+)$")
#: Where ``_principal`` leaves a session token to hand out (a one-time token was used).
_RENEWED = "sss_emulator.renewed_token"


class CallRecorder:
    """Thread-safe log of the requests a script made, for ``res.server_calls`` and tests.

    Each call is ``{"method", "path", "query", "params", "status", "error"}``: ``path`` is below
    the context root, ``query`` the LQL string of a query (else None), ``error`` the description
    of an ``<Error>`` the answer carried (else None).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[dict[str, Any]] = []

    def record(self, call: dict[str, Any]) -> None:
        with self._lock:
            self._calls.append(call)

    @property
    def calls(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._calls)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()


class _Request(Request):
    # pylib sends one FileRepresentation part holding all entities: allow more than werkzeug's
    # 500 kB, but not without bound (file parts are spooled to disk by werkzeug).
    max_form_memory_size = decisions.MAX_STANDIN_XML_BYTES
    max_form_parts = 100_000
    max_content_length = decisions.MAX_STANDIN_BODY_BYTES


class _Answer:
    """What a handler produced: a response plus the error text to record."""

    def __init__(self, response: Response, error: str | None = None) -> None:
        self.response = response
        self.error = error


def make_backend_app(
    store: EntityStore,
    *,
    authenticate: Authenticate,
    recorder: CallRecorder | None = None,
    file_root: Path | None = None,
    context_root: str = "",
    users: Iterable[UserRecord] = (),
) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """Build the stand-in as a WSGI callable.

    Args:
        store: the entities to serve and change.
        authenticate: maps the ``SessionToken`` cookie value to a principal, or None (401).
        recorder: receives one entry per request.
        file_root: a directory ``GET FileSystem/<path>`` also serves from, for File entities
            seeded without uploaded contents.
        context_root: a path prefix such as ``/linkahead`` the app is mounted below.
        users: the users ``GET User/<realm>/<name>`` knows (e-mail, roles); the caller is always
            known, with the name, realm and roles of their token.

    Example::

        app = make_backend_app(EntityStore(), authenticate=lambda token: None)
    """
    backend = _Backend(store, authenticate, recorder, file_root, context_root, users)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = _Request(environ)
        try:
            answer = backend.dispatch(request)
        except Exception as exc:  # never werkzeug's HTML page: the server's error document
            _log.exception("the stand-in failed on %s %s", request.method, request.path)
            detail = " ".join(str(exc).split()) or type(exc).__name__
            answer = _error(500, Message(
                "Error", 500, f"The stand-in failed on this request ({type(exc).__name__}: "
                f"{detail}); nothing of it was stored. Please report this."))
        renewed = environ.get(_RENEWED)
        if renewed:
            answer.response.headers.add(
                "Set-Cookie", session_cookie_header(renewed, backend.context_root or "/",
                                                    secure=request.scheme == "https"))
        if recorder is not None:
            recorder.record(backend.describe(request, answer))
        return answer.response(environ, start_response)

    return app


class _Backend:
    def __init__(
        self,
        store: EntityStore,
        authenticate: Authenticate,
        recorder: CallRecorder | None,
        file_root: Path | None,
        context_root: str,
        users: Iterable[UserRecord] = (),
    ) -> None:
        self.users = {(u.realm, u.name): u for u in users}
        self.store = store
        self.authenticate = authenticate
        self.recorder = recorder
        self.file_root = file_root
        self.context_root = context_root_prefix(context_root)

    # ----------------------------------------------------------------- plumbing
    def relative_path(self, request: Request) -> str | None:
        return below_context_root(request.path, self.context_root)

    def describe(self, request: Request, answer: _Answer) -> dict[str, Any]:
        params = {k: v for k, v in request.args.items() if k != "query"}
        return {
            "method": request.method,
            "path": self.relative_path(request) or request.path,
            "query": request.args.get("query"),
            "params": params,
            "status": answer.response.status_code,
            "error": answer.error,
        }

    def dispatch(self, request: Request) -> _Answer:
        odd = _odd_character(request)
        if odd is not None:
            status = decisions.CONTROL_CHARACTER_STATUS
            return _error(status, Message("Error", status, odd))
        path = self.relative_path(request)
        if path is None:
            return _error(
                404, Message("Error", 404, f"Not below the context root {self.context_root}.")
            )
        foreign = foreign_site(request.environ)
        if foreign is not None:  # a page of another site, acting with the script's cookie
            return _error(403, Message("Error", 403, refusal(request.method, foreign)))
        principal = self._principal(request)
        if principal is None:
            return _error(401, messages.not_authenticated())
        length = request.content_length
        if length is not None and length > (request.max_content_length or length):
            return _too_large(principal)
        parts = path.strip("/").split("/", 1)
        head, rest = parts[0], (parts[1] if len(parts) > 1 else "")
        method = request.method
        try:
            if head == "Info" and method == "GET":
                return self.info(principal)
            if head == "Entity":
                if method == "GET":
                    if rest:
                        return self.retrieve(principal, request, rest)
                    return self.query(principal, request)
                if method == "POST":
                    return self.write(principal, request, insert=True)
                if method == "PUT":
                    return self.write(principal, request, insert=False)
                if method == "DELETE" and rest:
                    return self.delete(principal, rest)
            if head == "FileSystem" and method == "GET":
                return self.download(rest)
            if head in ("User", "UserRoles") and method == "GET" and rest:
                return self.user(principal, rest, roles_only=head == "UserRoles")
            if head == "EntityPermissions" and method == "GET":
                root = response_element(principal)
                root.append(render_entity_permissions())
                return _Answer(_xml(root))
            if head in _ADMIN_RESOURCES:
                return _error(
                    501, messages.not_emulated(f"{method} {head}"), principal
                )
            if head == "logout":
                return _Answer(_xml(response_element(principal)))
        except EntityXmlError as err:
            return _error(400, Message("Error", 400, str(err)), principal)
        except RequestEntityTooLarge:
            return _too_large(principal)
        except HTTPException as err:  # werkzeug: a body it cannot read
            status = err.code or 400
            return _error(status, Message("Error", status, str(err.description)), principal)
        return _error(
            404, Message("Error", 404, f"The stand-in has no resource {method} {path}."), principal
        )

    def _principal(self, request: Request) -> Principal | None:
        token = token_from_cookie_header(request.headers.get("Cookie"))
        if not token:
            return None
        try:
            principal = self.authenticate(token)
            renewed = getattr(principal, "renewed_token", None)
            if isinstance(renewed, str):
                request.environ[_RENEWED] = renewed
            return principal
        except Exception:  # a broken authenticator must not become a 500 with a traceback
            _log.exception("authenticate() raised; answering 401")
            return None

    # ----------------------------------------------------------------- handlers
    def info(self, principal: Principal) -> _Answer:
        root = etree.Element("Response")
        root.append(user_info(principal))
        stats = etree.SubElement(root, "Stats")
        counts = etree.SubElement(stats, "counts")
        for key, value in self.store.counts().items():
            counts.set(key, str(value))
        counts.set("fssize", str(self.store.files_size()))
        counts.set("debug", "false")
        now = datetime.now().astimezone()
        offset = now.strftime("%z")
        zone = etree.SubElement(root, "TimeZone", id=time.tzname[0] or "UTC", offset=offset)
        zone.text = now.tzname() or "UTC"
        return _Answer(_xml(root))

    def query(self, principal: Principal, request: Request) -> _Answer:
        text = request.args.get("query")
        root = response_element(principal)
        if text is None:
            return _Answer(_xml(root))
        me = (principal.name, principal.realm)
        try:
            parsed = parse_query(text)
            run = QueryRun(parsed)
            if run.has_regex:  # the regex work on a copy of the names, outside the lock
                run.prematch(self.store.name_keys())
            with self.store.lock:  # evaluation under the lock is bounded by run's deadline
                if parsed.any_version:
                    entities = evaluate_versions(parsed, self.store, me=me, run=run)
                else:
                    ids = evaluate(parsed, self.store, me=me, run=run)
                    entities = [e for e in map(self.store.get, ids) if e is not None]
        except QuerySyntaxError as err:
            return self._query_error(principal, text, str(err), err.status)
        except RecursionError:  # the parser's depth guard should make this unreachable
            return self._query_error(principal, text, "The query is nested too deeply.", 400)
        with self.store.lock:
            query_elem = etree.SubElement(
                root, "Query", string=text, results=str(len(entities)), cached="false"
            )
            query_elem.set("etag", str(self.store.revision))
            if parsed.verb == "COUNT":
                return _Answer(_xml(root))
            page = _PAGE.match(request.args.get("P", ""))
            if page:
                start, length = int(page.group(1)), int(page.group(2))
                entities = entities[start : start + length]
            only = selection(parsed.selectors) if parsed.verb == "SELECT" else None
            acl = "ACL" in request.args
            for entity in entities:
                root.append(render_entity(entity, self.store, only=only, acl=acl))
        return _Answer(_xml(root))

    def _query_error(
        self, principal: Principal, text: str, description: str, status: int | None = None
    ) -> _Answer:
        """FIND/SELECT: an ``<Error>`` pylib raises as TransactionError. COUNT: pylib returns the
        count before looking at errors, so the answer is 501 and pylib raises HTTPServerError
        with this description instead of returning a silently wrong 0 (U). A query nested too
        deeply is a 400 (``status``) whatever its verb: pylib raises HTTPClientError."""
        root = response_element(principal)
        root.append(render_message(messages.query_error(description)))
        if status is not None:
            return _Answer(_xml(root, status=status), description)
        words = text.split()
        if words and words[0].upper() == "COUNT":
            return _Answer(_xml(root, status=501), description)
        etree.SubElement(root, "Query", string=text, results="0")
        return _Answer(_xml(root), description)

    def retrieve(self, principal: Principal, request: Request, rest: str) -> _Answer:
        refs = [r for r in rest.split("&") if r]
        root = response_element(principal)
        with self.store.lock:
            entities = self.store.retrieve(refs)
            for entity in entities:
                root.append(
                    render_entity(
                        entity, self.store, history="H" in request.args, acl="ACL" in request.args
                    )
                )
        return _Answer(_xml(root), _first_error(entities))

    def user(self, principal: Principal, rest: str, *, roles_only: bool) -> _Answer:
        """``GET User/[<realm>/]<name>`` (pylib's ``admin._retrieve_user``) and ``UserRoles``."""
        realm, _sep, name = rest.rpartition("/")
        is_self = name == principal.name and realm in ("", principal.realm)
        if is_self:
            record = self.users.get((principal.realm, principal.name)) or UserRecord(
                principal.name, principal.realm
            )
            record = UserRecord(
                record.name, record.realm, record.email, tuple(principal.roles), record.status
            )
        else:
            if decisions.USER_RETRIEVE_OTHERS_ROLE not in principal.roles:
                return _error(
                    403, messages.user_forbidden(rest), principal
                )
            found = [
                u for (r, n), u in self.users.items() if n == name and realm in ("", r)
            ]
            if not found:
                return _error(404, messages.user_does_not_exist(rest), principal)
            record = found[0]
        root = response_element(principal)
        if roles_only:
            roles = etree.SubElement(root, "Roles")
            for role in record.roles:
                etree.SubElement(roles, "Role", name=role)
        else:
            elem = etree.SubElement(root, "User", name=record.name, realm=record.realm)
            if record.email:
                elem.set("email", record.email)
            elem.set("status", record.status)
        return _Answer(_xml(root))

    def write(self, principal: Principal, request: Request, *, insert: bool) -> _Answer:
        multipart = request.mimetype == "multipart/form-data"
        limit = decisions.MAX_STANDIN_BODY_BYTES if multipart else decisions.MAX_STANDIN_XML_BYTES
        if not is_streamed(request.environ):
            return self._write(principal, request, insert=insert)
        # A chunked body: counted into a spool, refused as soon as it passes the limit, never
        # held in memory whole before it is known to fit.
        environ = dict(request.environ)
        with spooled_body(environ, limit) as fits:
            if not fits:
                return _too_large(principal, limit)
            return self._write(principal, _Request(environ), insert=insert)

    def _write(self, principal: Principal, request: Request, *, insert: bool) -> _Answer:
        expect = ("Insert",) if insert else ("Update",)
        uploads: dict[str, bytes] = {}
        if request.mimetype == "multipart/form-data":
            body = request.form.get("FileRepresentation", "").encode("utf-8")
            uploads = _uploads(request.files.values())
        else:
            limit = decisions.MAX_STANDIN_XML_BYTES
            if (request.content_length or 0) > limit:
                return _too_large(principal, limit)
            body = request.stream.read(limit + 1)
            if len(body) > limit:
                return _too_large(principal, limit)
        drafts = parse_entities(body, expect=expect)
        for draft in drafts:
            if draft.upload_ref is not None:
                draft.upload = uploads.get(draft.upload_ref)
        flags = {k.lower(): v for k, v in request.args.items()}
        unique = flags.get("uniquename", "").lower() == "true"
        author = (principal.name, principal.realm)
        try:
            if self._refuse_acl_changes(drafts, author, insert=insert):
                answers, ok = drafts, False
            elif insert:
                answers, ok = self.store.insert(
                    drafts, unique_names=unique, flags=flags, file_exists=self._file_exists,
                    author=author,
                )
            else:
                answers, ok = self.store.update(
                    drafts, unique_names=unique, flags=flags, file_exists=self._file_exists,
                    author=author,
                )
        except StoreWriteError as err:
            return _write_failed(err, principal)
        root = response_element(principal)
        if not ok:
            root.append(render_message(messages.not_qualified()))
        for entity in answers:
            root.append(render_entity(entity, self.store))
        return _Answer(_xml(root), _first_error(answers))

    def _refuse_acl_changes(
        self, drafts: list[Entity], author: tuple[str, str], *, insert: bool
    ) -> bool:
        """Mark drafts whose ``<EntityACL>`` differs from the stored one; True if any does."""
        refused = False
        with self.store.lock:
            for draft in drafts:
                if draft.acl is None:
                    continue
                owner: tuple[str, str] | None = author
                if not insert:
                    chain = self.store.versions_of(draft.id) if draft.id is not None else []
                    first = chain[0].version if chain else None
                    owner = (first.username, first.realm) if first is not None else None
                if not same_acl(draft.acl, entity_acl(owner)):
                    draft.messages.append(messages.acl_change_not_emulated())
                    refused = True
        return refused

    def _file_exists(self, path: str) -> bool:
        """A path the stand-in's "file system" (``file_root``) already has a file at."""
        return self._local_file(path) is not None

    def _local_file(self, path: str) -> Path | None:
        if self.file_root is None:
            return None
        base = self.file_root.resolve()
        candidate = (base / path.lstrip("/")).resolve()
        if candidate.is_relative_to(base) and candidate.is_file():
            return candidate
        return None

    def delete(self, principal: Principal, rest: str) -> _Answer:
        try:
            answers, _ok = self.store.delete([r for r in rest.split("&") if r])
        except StoreWriteError as err:
            return _write_failed(err, principal)
        root = response_element(principal)
        for entity in answers:
            root.append(render_entity(entity, self.store))
        return _Answer(_xml(root), _first_error(answers))

    def download(self, rest: str) -> _Answer:
        """The contents of the File entity stored at this path; a path no File has (never
        had, or whose File was deleted) is 404, whatever lies in ``file_root``."""
        with self.store.lock:
            known = (self.store.path_owner(rest) is not None
                     or not decisions.DOWNLOAD_NEEDS_FILE_ENTITY)
            data = self.store.read_blob(rest) if known else None
        if data is None and known and (local := self._local_file(rest)) is not None:
            data = local.read_bytes()
        if data is None:
            return _error(404, Message("Error", 404, f"File does not exist: /{rest.lstrip('/')}"))
        return _Answer(Response(data, mimetype="application/octet-stream"))


def _odd_character(request: Request) -> str | None:
    """Why a request whose path or query holds a character no XML document can carry (a NUL
    in ``/Entity/<id>``, ``/User/<realm>/<name>``, a query) is refused, else ``None``."""
    query = [text for pair in request.args.items(multi=True) for text in pair]
    for where, texts in (("path", [request.path]), ("query", query)):
        char = not_in_xml(*texts)
        if char is not None:
            return (f"The request's {where} holds the character {char!r} (U+{ord(char):04X}), "
                    "which no LinkAhead id, name or query contains; remove it.")
    return None


def _uploads(files: Iterable[FileStorage]) -> dict[str, bytes]:
    """Map each file part's filename (pylib's ``upload`` id) to its bytes; directories skipped."""
    out: dict[str, bytes] = {}
    for storage in files:
        name = storage.filename or ""
        if name and not name.endswith("/"):
            out[name] = storage.read()
    return out


def _too_large(principal: Principal | None,
               limit: int = decisions.MAX_STANDIN_BODY_BYTES) -> _Answer:
    return _error(413, Message("Error", 413, f"The request body is larger than the stand-in "
                                             f"accepts ({limit} bytes); send less at once."),
                  principal)


def _write_failed(err: StoreWriteError, principal: Principal) -> _Answer:
    """A write the store could not make durable (it took everything back): the server's error
    document with the status a failing server answers, so pylib raises ``HTTPServerError``."""
    status = decisions.WRITE_FAILURE_STATUS
    return _error(status, Message("Error", status, str(err)), principal)


def _first_error(entities: list[Entity]) -> str | None:
    for entity in entities:
        for message in (
            *entity.messages,
            *(m for p in entity.parents for m in p.messages),
            *(m for p in entity.properties for m in p.messages),
        ):
            if message.type == "Error":
                return message.description
    return None


def _xml(root: etree._Element, *, status: int = 200) -> Response:
    return Response(to_bytes(root), status=status, content_type=_XML)


def _error(status: int, message: Message, principal: Principal | None = None) -> _Answer:
    root = response_element(principal)
    root.append(render_message(message))
    return _Answer(_xml(root, status=status), message.description)
