"""The WSGI app answering the calls a script makes back to "its" LinkAhead server.

Routes (below an optional context root): ``GET Info``, ``GET Entity?query=…``, ``GET Entity/<ids>``,
``POST Entity`` (XML or multipart with a ``FileRepresentation`` part), ``PUT Entity``,
``DELETE Entity/<ids>``, ``GET FileSystem/<path>`` and ``DELETE logout``. Every request needs a
``SessionToken`` cookie the ``authenticate`` callable accepts; anything else gets 401.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from sss_emulator import decisions
from sss_emulator.backend import messages
from sss_emulator.backend.access import AccessControl
from sss_emulator.backend.acl import render_entity_permissions, same_acl
from sss_emulator.backend.admin_api import AdminBody, administer
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
from sss_emulator.backend.model import AclEntry, Entity, Message, Principal, UserRecord
from sss_emulator.backend.query.evaluate import QueryRun, evaluate, evaluate_versions
from sss_emulator.backend.query.parser import QuerySyntaxError, parse_query
from sss_emulator.backend.store import EntityStore, StoreWriteError
from sss_emulator.backend.write_checks import (
    Need,
    needs_for_delete,
    needs_for_insert,
    needs_for_update,
)
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
_ADMIN_RESOURCES = frozenset({"User", "UserRoles", "Role", "PermissionRules"})
"""User, role and permission administration (``backend/admin_api.py``)."""
_PAGE = re.compile(r"^(\d+)L(\d+)$", re.ASCII)  # the server reads ASCII digits only
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
    access: AccessControl | None = None,
    anonymous: bool = False,
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
            known, with the name, realm and roles of their token. Ignored when ``access`` is
            given.
        access: the users, roles, role permissions and entity ACLs every request is checked
            against (shared with the scripting check of ``serve``); by default one made from
            ``users`` with the server's default permissions.
        anonymous: a request without a ``SessionToken`` acts as the anonymous user (the
            server's ``AUTH_OPTIONAL``) instead of getting 401.

    Example::

        app = make_backend_app(EntityStore(), authenticate=lambda token: None)
    """
    backend = _Backend(store, authenticate, recorder, file_root, context_root,
                       access if access is not None else AccessControl(users), anonymous)

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
        access: AccessControl,
        anonymous: bool = False,
    ) -> None:
        self.access = access
        self.anonymous = anonymous
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
        authenticated = self._principal(request)
        if authenticated is None:
            return _error(401, messages.not_authenticated())
        # the roles the state gives the caller now (the API may have changed them since the
        # token was issued): every answer's UserInfo and every check read these
        principal: Principal = self.access.caller(authenticated)
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
                return self.download(principal, rest)
            if head in _ADMIN_RESOURCES:
                answer = self.administer(principal, request, method, head, rest)
                if answer is not None:
                    return answer
            if head == "EntityPermissions" and method == "GET":
                root = response_element(principal)
                root.append(render_entity_permissions())
                return _Answer(_xml(root))
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
            return _ANONYMOUS if self.anonymous else None
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
                entities = self._retrievable(principal, entities)
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
                root.append(render_entity(entity, self.store, only=only,
                                          acl=self._acl(entity) if acl else False))
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
        caller = self.access.caller(principal)
        with self.store.lock:
            entities = [
                e if e.id is None or e.role == "Entity"
                or self._permitted(caller, e.id, "RETRIEVE:ENTITY") else _refused(e)
                for e in self.store.retrieve(refs)
            ]
            for entity in entities:
                root.append(
                    render_entity(
                        entity, self.store, history="H" in request.args,
                        acl=self._acl(entity) if "ACL" in request.args else False,
                    )
                )
        return _Answer(_xml(root), _first_error(entities))

    def administer(
        self, principal: Principal, request: Request, method: str, head: str, rest: str
    ) -> _Answer | None:
        """``User``, ``UserRoles``, ``Role``, ``PermissionRules`` (``backend/admin_api.py``).

        The body is read only when the permission checks passed (``read``), and through the
        bounded path the entity writes take: a chunked body is counted into a spool and
        refused (413) once it passes the XML limit, never read whole into memory first.
        """
        limit = decisions.MAX_STANDIN_XML_BYTES
        with contextlib.ExitStack() as spools:

            def read() -> AdminBody:
                if method not in ("POST", "PUT"):
                    return {}, b""
                environ = dict(request.environ)
                if not spools.enter_context(spooled_body(environ, limit)):
                    raise RequestEntityTooLarge()
                bounded = _Request(environ)
                if (bounded.content_length or 0) > limit:
                    raise RequestEntityTooLarge()
                if bounded.mimetype == "application/x-www-form-urlencoded":
                    return dict(bounded.form.items()), b""
                body = bounded.stream.read(limit + 1)
                if len(body) > limit:
                    raise RequestEntityTooLarge()
                return {}, body

            try:
                answer = administer(self.access, principal, method, head, rest, read)
            except RequestEntityTooLarge:
                return _too_large(principal, limit)
        if answer is None:
            return None
        status, document = answer
        if isinstance(document, Message):
            return _error(status, document, principal)
        return _Answer(_xml(document, status=status))

    # ----------------------------------------------------------------- permissions
    def _owner(self, entity_id: int) -> tuple[str, str] | None:
        chain = self.store.versions_of(entity_id)
        first = chain[0].version if chain else None
        return (first.username, first.realm) if first is not None else None

    def _acl(self, entity: Entity) -> tuple[AclEntry, ...]:
        if entity.id is None:
            return ()
        return self.access.acl_of(entity.id, self._owner(entity.id))

    def _permitted(self, caller: Any, entity_id: int, permission: str) -> bool:
        return self.access.entity_permitted(
            caller, self.access.acl_of(entity_id, self._owner(entity_id)), permission
        )

    def _retrievable(self, principal: Principal, entities: list[Entity]) -> list[Entity]:
        """Query results the caller may see (the server leaves out the others). Without ACLs
        of their own, entities are retrievable whenever the global rules let the caller
        retrieve as owner and as other, so only those with an ACL are checked then."""
        caller = self.access.caller(principal)
        if caller.admin and decisions.ADMIN_HAS_ALL_ENTITY_PERMISSIONS:
            return entities
        if self.access.retrieves_all_by_default(caller):
            explicit = self.access.explicit_acl_ids()
            if not explicit:
                return entities
            return [e for e in entities if e.id not in explicit
                    or self._permitted(caller, e.id, "RETRIEVE:ENTITY")]
        return [e for e in entities
                if e.id is not None and self._permitted(caller, e.id, "RETRIEVE:ENTITY")]

    def _authorizer(
        self, principal: Principal, *, insert: bool
    ) -> Callable[[Entity, Entity | None], None]:
        """The ``authorize`` callback of a store write: marks what the caller may not do."""
        caller = self.access.caller(principal)
        transaction = "TRANSACTION:INSERT" if insert else "TRANSACTION:UPDATE"
        may_transact = self.access.role_permitted(caller, transaction)

        def authorize(draft: Entity, current: Entity | None) -> None:
            if caller.admin and decisions.ADMIN_HAS_ALL_ENTITY_PERMISSIONS:
                return
            needs: list[Need] = []
            if current is None:
                needs = needs_for_insert(draft, self.store)
            elif current.id is not None:
                needs = needs_for_update(draft, current, self.store,
                                         lambda: self._acl(current))
            if not may_transact or any(not self._permitted(caller, entity_id, permission)
                                       for entity_id, permission in needs):
                draft.messages.append(messages.not_permitted())

        return authorize

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
        authorize = self._authorizer(principal, insert=insert)
        try:
            with self.store.lock:  # the checks and the write see the same state
                if insert:
                    answers, ok = self.store.insert(
                        drafts, unique_names=unique, flags=flags,
                        file_exists=self._file_exists, author=author, authorize=authorize,
                    )
                else:
                    answers, ok = self.store.update(
                        drafts, unique_names=unique, flags=flags,
                        file_exists=self._file_exists, author=author, authorize=authorize,
                    )
                if ok:
                    self._keep_acls(answers)
        except StoreWriteError as err:
            return _write_failed(err, principal)
        root = response_element(principal)
        if not ok:
            root.append(render_message(messages.not_qualified()))
        for entity in answers:
            root.append(render_entity(entity, self.store))
        return _Answer(_xml(root), _first_error(answers))

    def _keep_acls(self, answers: list[Entity]) -> None:
        """An insert or update that carried an ``<EntityACL>`` sets the entity's ACL (the
        checks already required ``EDIT:ACL`` for a change)."""
        for answer in answers:
            if answer.acl is None or answer.id is None:
                continue
            if not same_acl(answer.acl, self._acl(answer)):
                self.access.set_acl(answer.id, answer.acl)

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
        refs = [r for r in rest.split("&") if r]
        caller = self.access.caller(principal)
        may_delete = self.access.role_permitted(caller, "TRANSACTION:DELETE")
        try:
            with self.store.lock:  # the checks and the write see the same state
                refused = [
                    _refused(entity) for entity in self.store.retrieve(refs)
                    if entity.id is not None and entity.role != "Entity"
                    and not (may_delete and all(self._permitted(caller, i, p)
                                                for i, p in needs_for_delete(entity)))
                ]
                if refused:
                    root = response_element(principal)
                    root.append(render_message(messages.not_qualified()))
                    for entity in refused:
                        root.append(render_entity(entity, self.store))
                    return _Answer(_xml(root), _first_error(refused))
                answers, ok = self.store.delete(refs)
                if ok:
                    self.access.forget_acls(a.id for a in answers if a.id is not None)
        except StoreWriteError as err:
            return _write_failed(err, principal)
        root = response_element(principal)
        for entity in answers:
            root.append(render_entity(entity, self.store))
        return _Answer(_xml(root), _first_error(answers))

    def download(self, principal: Principal, rest: str) -> _Answer:
        """The contents of the File entity stored at this path, for a caller who may
        ``RETRIEVE:FILE`` it; a path no File has (never had, or whose File was deleted) is 404,
        whatever lies in ``file_root``."""
        with self.store.lock:
            owner = self.store.path_owner(rest)
            if owner is not None and owner.id is not None and not self._permitted(
                self.access.caller(principal), owner.id, "RETRIEVE:FILE"
            ):
                return _error(403, messages.not_permitted(), principal)
            known = owner is not None or not decisions.DOWNLOAD_NEEDS_FILE_ENTITY
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


@dataclass(frozen=True)
class _Anonymous:
    """Who a request without a token is when anonymous access is on."""

    name: str = decisions.ANONYMOUS_USER
    realm: str = decisions.ANONYMOUS_REALM
    roles: tuple[str, ...] = ("anonymous",)


_ANONYMOUS = _Anonymous()


def _refused(entity: Entity) -> Entity:
    """What the caller gets instead of an entity they may not see or change: its id and the
    403 error (pylib: ``AuthorizationError``)."""
    return Entity(id=entity.id, role=entity.role, messages=[messages.not_permitted()])


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
