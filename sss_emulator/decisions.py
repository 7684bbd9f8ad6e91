"""Every behaviour of the real server that could not be verified, decided in one place.

The server's Java source was not available when this was written (contract mark **U**).
Each constant or function here is what the emulator does instead; when a real server
shows otherwise, change it here and nowhere else. ``docs/fidelity.md`` lists them for users.
"""

from __future__ import annotations

import os

__all__ = (
    "ADMIN_HAS_ALL_ENTITY_PERMISSIONS",
    "ANONYMOUS_REALM",
    "ANONYMOUS_USER",
    "API_USER_REALM",
    "AUTHENTICATED_ROLE_GRANTS",
    "BUILT_IN_ROLES",
    "CAOSROOT_PATH",
    "CA_BUNDLE_ENV",
    "CONTROL_CHARACTER_STATUS",
    "DEFAULT_ADMIN_ROLE",
    "DEFAULT_REALM",
    "DEFAULT_USER",
    "DOWNLOAD_NEEDS_FILE_ENTITY",
    "EMAIL_INI_SECTION_SINCE",
    "EMAIL_SECTION_WHEN_CLIENT_UNKNOWN",
    "ENTITY_ACL_OWNER_PERMISSIONS",
    "ENTITY_PERMISSIONS",
    "ERROR_CODES",
    "EXTROOT_PATH",
    "FILE_NEEDS_CONTENTS",
    "FOREIGN_HOST_STATUS",
    "GLOBAL_ENTITY_ACL",
    "HOME_IS_WORKDIR",
    "INSERT_IS_NO_UPDATE",
    "KILL_GRACE_S",
    "KILL_LEFTOVER_CHILDREN",
    "NAIVE_DATETIME_IS_LOCAL",
    "NULL_NEEDS_PROPERTY",
    "OBLIGATORY_CHECKED_ROLES",
    "ONE_TIME_MAX_REPLAYS",
    "ONE_TIME_REALM",
    "ONE_TIME_REPLAY_TIMEOUT_MS",
    "ONE_TIME_VALIDITY_MS",
    "OWNER_PERMISSION",
    "PARENT_ROLES",
    "PURPOSE_TOKEN_DEFAULT_USER",
    "QUERY_LIMIT_STATUS",
    "QUERY_TIME_LIMIT_S",
    "REFERENCE_BY_NAME_ROLES",
    "REFERENCE_TO_DATATYPE_ITSELF",
    "REGEX_CASE_INSENSITIVE",
    "REGEX_MAX_STATES",
    "SCRUBBED_ENV",
    "SCRUBBED_ENV_PREFIXES",
    "SELF_SERVICE_PERMISSIONS",
    "SERVER_CERT_PATH",
    "SESSION_RENEWED_PER_REQUEST",
    "SESSION_ROLES_ARE_LIVE",
    "SESSION_VALIDITY_MS",
    "TIMEOUT_DESCRIPTION",
    "TRIM_OUTPUT",
    "UNCHANGED_UPDATE_KEEPS_VERSION",
    "USERS_FILE_WINS_ON_START",
    "WRITE_FAILURE_STATUS",
    "XML_REPLACEMENT_CHAR",
    "exit_code_for_signal",
    "shared_dir_name",
)

# --- request ---------------------------------------------------------------------------------
#: Positional gaps (``-p0``, ``-p2``) are refused with 400, naming the missing index.
REFUSE_POSITIONAL_GAPS = True
#: Repeated ``-O<name>`` fields each become their own ``--name=value``, in request order.
REPEATED_OPTIONS_KEPT = True

#: File parts whose field is not an argument (``-pN``/``-O<name>``) are still stored in
#: ``.upload_files/``: the tutorial's handle_csv.py finds its CSV there by the name form.json
#: gives, so the web UI must send it in a part of its own.
STORE_FILE_PARTS_WITHOUT_ARGUMENT = True

# --- process ---------------------------------------------------------------------------------
#: HOME and the working directory are one directory holding the copy of the skeleton.
HOME_IS_WORKDIR = True
#: Seconds between SIGTERM and SIGKILL to the script's process group.
KILL_GRACE_S = 2.0
#: Processes a script left running in its group are stopped when the script exits, so that
#: nothing outlives the (deleted) working directory.
KILL_LEFTOVER_CHILDREN = True
#: Variables of the caller's environment the script does not get (``core.environment``): a
#: server's process would not carry the caller's shell directory; an ini override would make
#: pylib read the developer's own (production) config instead of the HOME copy (PYCAOSDBINI
#: even makes pylib exit 1), and so would ``XDG_CONFIG_HOME`` where HOME holds no ini; ``NETRC``
#: hands requests the developer's passwords; the SSH/GPG agents, the Kerberos ticket cache and
#: the D-Bus session bus (the keyring pylib's ``password_method = keyring`` asks) are the
#: developer's credentials. The server's own environment holds none of them.
SCRUBBED_ENV = ("PWD", "OLDPWD", "PYLINKAHEADINI", "PYCAOSDBINI", "XDG_CONFIG_HOME", "NETRC",
                "SSH_AUTH_SOCK", "GPG_AGENT_INFO", "KRB5CCNAME", "DBUS_SESSION_BUS_ADDRESS")
#: Prefixes of variables no script gets: ``SSS_*`` are the emulator's own settings, among them
#: secrets (``SSS_PASSWORD`` of the real server, ``SSS_ADMIN_PASSWORD`` of ``serve``) and
#: pointers to them; a server sets none of them for its scripts. What a script needs of the
#: emulator (``SSS_EMULATOR_MAIL_SPOOL``, ``SSS_EMULATOR_RUN``) is set for the run after the
#: scrub, and ``--env`` pairs are the user's own and kept.
SCRUBBED_ENV_PREFIXES = ("SSS_",)
#: stdout/stderr are returned unchanged (no whitespace trimming).
TRIM_OUTPUT = False
#: What replaces characters that XML 1.0 cannot carry (NUL, most C0 controls).
XML_REPLACEMENT_CHAR = "\ufffd"
#: The ``<Error description>`` of a timed-out script.
TIMEOUT_DESCRIPTION = "This server-side script did not finish in time."


def exit_code_for_signal(signum: int) -> int:
    """A script killed by signal N reports ``128 + N``, as a shell would."""
    return 128 + signum


def shared_dir_name() -> str:
    """The random folder name of a SHARED_DIR (it appears in download links)."""
    return os.urandom(16).hex()


#: Numeric ``code`` attributes of our ``<Error>`` documents, keyed by HTTP status.
ERROR_CODES: dict[int, str] = {400: "400", 401: "401", 403: "403", 404: "404", 413: "413",
                               415: "415", 500: "500"}

# --- identity and tokens ---------------------------------------------------------------------
DEFAULT_USER = "admin"
DEFAULT_REALM = "PAM"
DEFAULT_ADMIN_ROLE = "administration"
ANONYMOUS_USER = "anonymous"
ANONYMOUS_REALM = "anonymous"
#: Realm written into one-time (purpose) tokens, as in pylib's docstring example.
ONE_TIME_REALM = "OneTimeAuthenticationToken"
#: A purpose entry without ``username`` acts as this user (pylib's example token shows it).
PURPOSE_TOKEN_DEFAULT_USER = "anonymous"
#: Lifetime of a session token, a login's and the one a script gets alike: the server's
#: ``SESSION_TIMEOUT_MS`` default, 600000 ms (ten minutes), of its ``conf/core/server.conf`` (as
#: recalled from caosdb-server; no copy of the file could be read to verify it). With
#: :data:`SESSION_RENEWED_PER_REQUEST` a session lasts while it is used, and a token that leaked
#: is refused ten minutes after it was issued, as on the server.
SESSION_VALIDITY_MS = 600_000
#: Every answer to a request made with a session token carries a fresh session token of the
#: same holder (``Set-Cookie``), which pylib takes after each response
#: (``AbstractAuthenticator.on_response``): a script that keeps working keeps a valid token,
#: the web page keeps its login while in use. Revoking any token of such a chain (a logout)
#: revokes the whole chain.
SESSION_RENEWED_PER_REQUEST = True
#: One-time token defaults when the purpose entry does not say (pylib's example values; the
#: validity is also the server's ``ONE_TIME_TOKEN_EXPIRES_MS`` default, 604800000, as recalled).
ONE_TIME_VALIDITY_MS = 604_800_000
ONE_TIME_MAX_REPLAYS = 1
ONE_TIME_REPLAY_TIMEOUT_MS = 30_000

# --- the local HTTP server (``sss-emulate serve``) --------------------------------------------
#: Largest request body ``POST /scripting`` accepts before answering 413 (the real server's
#: limit is not documented).
MAX_REQUEST_BODY_BYTES = 4 * 1024**3
#: Largest text part (a field, not a file) of a form, and largest urlencoded body; larger is 413.
MAX_FORM_FIELD_BYTES = 16 * 1024**2
#: Largest request body the LinkAhead stand-in accepts (it keeps uploaded files in memory, as
#: its store does); more is 413.
MAX_STANDIN_BODY_BYTES = 256 * 1024**2
#: Largest entity XML (a body, or pylib's ``FileRepresentation`` part) the stand-in parses.
MAX_STANDIN_XML_BYTES = 64 * 1024**2
#: Largest number of parts of one multipart body; more is 413.
MAX_FORM_PARTS = 1000
#: Shared files are served only when they really lie inside the shared root (a symlink a script
#: left there pointing elsewhere is answered 404).
SHARED_FOLLOWS_SYMLINKS_OUT = False
#: The ``<Error description>`` of an upload that exceeds the limit.
TOO_LARGE_DESCRIPTION = "The request body is larger than this server accepts ({limit} bytes)."

# --- the web UI's form_elements (its source was not available) -------------------------------
#: A config-driven form's data goes up as a JSON file in this field …
WEBUI_FORM_FIELD = "-p0"
#: … under this file name (the seed doc: "converted into a json file form.json").
WEBUI_FORM_FILENAME = "form.json"
#: Its file fields are sent as file parts named after the field (``csvfile``), so they land in
#: ``.upload_files/`` without becoming arguments; form.json holds each one's file name.
WEBUI_FILE_PARTS_NAMED_AFTER_FIELD = True

# --- the LinkAhead stand-in scripts call back (``backend/``) -----------------------------------
#: A DATETIME value without a zone (``2024-05-01T10:00``) is in the server's zone, which the
#: stand-in takes to be the machine's local zone (the one its ``Info`` reports).
NAIVE_DATETIME_IS_LOCAL = True
#: Which roles may be a parent of which ("affiliation"): a RecordType as the parent of a Record
#: or File, a RecordType of a RecordType, a Property or RecordType of a Property, and a Record of a
#: Record or File. Anything else (a Record as a RecordType's parent …) is refused.
PARENT_ROLES: dict[str, tuple[str, ...]] = {
    "Record": ("RecordType", "Record"),
    "File": ("RecordType", "Record"),
    "RecordType": ("RecordType",),
    "Property": ("Property", "RecordType"),
}
#: The roles whose parents' OBLIGATORY properties must be present (only the direct parents'
#: properties count; a RecordType's sub-types are not checked).
OBLIGATORY_CHECKED_ROLES = ("Record", "File")
#: A reference property typed with RecordType ``X`` accepts Records/Files that have ``X`` among
#: their (transitive) parents, and RecordTypes that inherit from ``X``; ``X`` itself is refused.
REFERENCE_TO_DATATYPE_ITSELF = False
#: A reference value given by name may name an entity of these roles; when more than one
#: entity (of any of them) has the name, the reference is refused as ambiguous (an error on the
#: property, 114 on the entity), as the server refuses names it cannot identify, never resolved
#: to the first. Which roles count, and the error's text and code, were not verified.
REFERENCE_BY_NAME_ROLES: tuple[str, ...] = ("Record", "File", "RecordType", "Property")
#: A new File needs its contents: an upload, a blob the store already has at its path, or a
#: file under the stand-in's ``file_root`` (the stand-in's stand-in for the server's file system).
FILE_NEEDS_CONTENTS = True
#: The HTTP status of a write the stand-in could not make durable (its ``--db`` file deleted
#: while serving, a full disk): everything the write changed is taken back and the answer is
#: ``<Response><Error code="500" description="…"/></Response>`` (pylib raises
#: ``HTTPServerError``). What the server answers when its database fails was not verified.
WRITE_FAILURE_STATUS = 500
#: ``GET FileSystem/<path>`` serves only the contents of a File entity stored at that path: a
#: file under the stand-in's ``file_root`` that no File names, or whose File was deleted, is 404
#: (the server serves its file system through its File entities and removes a deleted File's
#: file; not verified for files it did not store itself).
DOWNLOAD_NEEDS_FILE_ENTITY = True
#: An update whose entity would store exactly what it holds (values compared as their datatype's
#: values, parents and properties in order) makes no new version: the entity keeps its version,
#: the answer carries it, and ``res.changes`` does not list it. How the server decides that
#: nothing changed was not verified.
UNCHANGED_UPDATE_KEEPS_VERSION = True
#: ``UPDATED`` in a transaction filter (``WHICH WAS UPDATED BY ME``) means a later version than
#: the first; the insert itself is no update.
INSERT_IS_NO_UPDATE = True
#: The ACL of an entity inserted without one: one grant of these permissions to the user who
#: inserted it (which makes them its owner).
ENTITY_ACL_OWNER_PERMISSIONS: tuple[str, ...] = ("*",)
#: The server-wide default ACL (``GET EntityPermissions``): (kind, priority, role, permissions).
GLOBAL_ENTITY_ACL: tuple[tuple[str, bool, str, tuple[str, ...]], ...] = (
    ("Grant", False, "?OWNER?", ("*",)),
    ("Grant", False, "?OTHER?", ("RETRIEVE:*", "USE:*")),
    ("Grant", False, "anonymous", ("RETRIEVE:*",)),
    ("Deny", False, "?OTHER?", ("UPDATE:*", "DELETE")),
    ("Deny", True, "?OTHER?", ("EDIT:ACL",)),
)
#: The entity permissions the server knows, with a description each.
ENTITY_PERMISSIONS: tuple[tuple[str, str], ...] = tuple(
    (name, f"Permission to {name.lower().replace(':', ' ').replace('_', ' ')}.")
    for name in (
        "RETRIEVE:ENTITY", "RETRIEVE:ACL", "RETRIEVE:HISTORY", "RETRIEVE:OWNER", "RETRIEVE:FILE",
        "DELETE", "EDIT:ACL", "UPDATE:DESCRIPTION", "UPDATE:VALUE", "UPDATE:ROLE",
        "UPDATE:PARENT:REMOVE", "UPDATE:PARENT:ADD", "UPDATE:PROPERTY:REMOVE",
        "UPDATE:PROPERTY:ADD", "UPDATE:NAME", "UPDATE:DATA_TYPE", "UPDATE:FILE:REMOVE",
        "UPDATE:FILE:ADD", "UPDATE:FILE:MOVE", "USE:AS_REFERENCE", "USE:AS_PROPERTY",
        "USE:AS_PARENT", "USE:AS_DATA_TYPE",
    )
)  # fmt: skip
#: Role permissions every authenticated (non-anonymous) user has before their roles' rules are
#: read, as if granted without priority (a role's ``Deny`` takes them away). The server needs
#: ``TRANSACTION:*`` for any write; LinkAhead's admins grant it to their users' roles (pylib's
#: integration tests grant it to their test role). Ours, so that a users file need not list it;
#: the anonymous role gets nothing implied and may not write unless a rule says so.
AUTHENTICATED_ROLE_GRANTS: tuple[str, ...] = ("TRANSACTION:*",)
#: The roles every server has (the server's ``administration`` and ``anonymous``).
BUILT_IN_ROLES: tuple[str, ...] = ("administration", "anonymous")
#: An entity's owners (``?OWNER?``) are those its own ACL grants this permission (the server's
#: entity-permission table: "Roles with this Permission are called Owners").
OWNER_PERMISSION = "EDIT:ACL"
#: The role ``administration`` has every entity permission, whatever the ACLs say (the server's
#: admin bypasses entity ACLs; ours: verified only as "administration may do everything").
ADMIN_HAS_ALL_ENTITY_PERMISSIONS = True
#: The realm of a user created through the API (``POST User``): the server's internal user
#: source is called ``CaosDB``.
API_USER_REALM = "CaosDB"
#: What a user may do to their own account without an ``ACM`` permission: retrieve it and its
#: roles, and set its password (the server's defaults let users change their own password).
SELF_SERVICE_PERMISSIONS: tuple[str, ...] = (
    "ACM:USER:RETRIEVE:INFO", "ACM:USER:RETRIEVE:ROLES", "ACM:USER:UPDATE_PASSWORD",
)
#: On start, what the users file says about a user or a role replaces what a ``--db`` file
#: saved for it (the file is what its author edits; ``serve``'s generated admin password must
#: work); users and roles only the API made are kept.
USERS_FILE_WINS_ON_START = True
#: A session acts with its user's roles as they are now, not as they were at login: a role
#: taken away through the API counts at the next request, and the session of a user who was
#: deactivated or deleted is refused (401). The server's authorizing realm reads a principal's
#: roles from its user source for each request; a session token carries no roles of a user.
SESSION_ROLES_ARE_LIVE = True
#: ``WITH p IS NULL`` matches entities that have the property ``p`` without a value (caoscrawler's
#: identifiable queries for a ``None`` property); entities without ``p`` at all do not match.
NULL_NEEDS_PROPERTY = True
#: ``<<regex>>`` in names is searched (not anchored) and case-insensitive, like MariaDB's REGEXP.
REGEX_CASE_INSENSITIVE = True
#: ``<<regex>>`` is matched in time linear in the name (see ``backend/query/regex.py``), so no
#: pattern can freeze the stand-in; a pattern whose automaton needs more states than this (large
#: ``{m,n}`` counts, nested ones multiply) is refused. The real server hands the pattern to its
#: database (MariaDB's PCRE), whose backtracking limits were not verified.
REGEX_MAX_STATES = 20_000
#: A query still being evaluated after this many seconds is stopped and refused, so that no
#: request holds the store (or a thread) for long. Ours: the real server's database has its own
#: limits, which were not verified.
QUERY_TIME_LIMIT_S = 5.0
#: The status of a query refused for what it would cost (nested deeper than the parser allows, a
#: ``<<regex>>`` the linear matcher refuses, over :data:`QUERY_TIME_LIMIT_S`), whatever its verb:
#: pylib raises ``HTTPClientError`` with the description instead of returning a wrong count.
QUERY_LIMIT_STATUS = 400
#: The first ``linkahead`` release whose ini schema accepts ``[Email]`` (older ones, and the
#: ``caosdb`` package, refuse the whole ini when it has one); verified against the releases.
EMAIL_INI_SECTION_SINCE = (0, 21)
#: When the script's client cannot be found out (no Python on the run's PATH, a probe that
#: fails), ``[Email]`` is left out: an old client would refuse the whole ini, while a new one
#: only fails to mail (``[Misc] sendmail`` still captures).
EMAIL_SECTION_WHEN_CLIENT_UNKNOWN = False
#: Variables a script does not get when its ini is pointed at the stand-in or a real server:
#: requests lets them override the ini's ``cacert`` and ``ssl_insecure``, and a server's process
#: would not carry the caller's.
CA_BUNDLE_ENV = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")

# --- the emulator's own servers ---------------------------------------------------------------
#: The status of a request to a server bound to loopback whose ``Host`` names another machine (a
#: web page rebinding its name to 127.0.0.1): 421 Misdirected Request, "not the server for that
#: authority". Ours: a real server sits behind its own host name.
FOREIGN_HOST_STATUS = 421

#: A character no XML document can carry (NUL and the other C0 controls but tab, LF, CR) in the
#: path or query of a request to ``serve`` or the stand-in, a NUL in a script's argument (no
#: program's arguments can carry one; Java's ProcessBuilder refuses it), or a control character
#: in the name of a shared file asked for (it would go into a header): the server's answer is
#: unknown; the emulator answers this status with its error document, never a 500.
CONTROL_CHARACTER_STATUS = 400

# --- the server's container around a script (docs/mounts.md) ----------------------------------
#: Where the caosdb-docker images (and the scripts written for them, e.g. the linkahead-control
#: demo's) have the profile's extroot; newer images declare it per profile.
EXTROOT_PATH = "/opt/caosdb/mnt/extroot"
#: Where those images keep the server's file store ("caosroot"); caosadvancedtools' crawler
#: reads stored files there.
CAOSROOT_PATH = "/opt/caosdb/mnt/caosroot"
#: Where the demo profile's scripting home ini expects the server's certificate (``cacert``).
SERVER_CERT_PATH = "/opt/caosdb/cert/caosdb.cert.pem"
