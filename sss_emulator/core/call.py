"""What a client asks the server to run, and the command line the server builds from it.

Pure functions over plain data: the CLI, the Python API, the HTTP server and the pytest plugin
all turn their input into one :class:`CallRequest`, and the same functions turn that into argv
and into the token-free ``call`` string of the response.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from sss_emulator import decisions
from sss_emulator.errors import BadRequestForm

__all__ = (
    "UPLOAD_DIR",
    "CallRequest",
    "FieldValue",
    "Upload",
    "build_argv",
    "call_string",
    "check_upload_name",
    "ignored_field_note",
    "request_from_form",
    "request_from_pylib",
)

#: The folder, relative to the working directory, that receives uploaded files (contract §3, V).
UPLOAD_DIR = ".upload_files"

#: Longest upload name: one name in a Linux file system (NAME_MAX).
MAX_UPLOAD_NAME_BYTES = 255

_POSITIONAL = re.compile(r"-p(\d+)\Z")


@dataclass(frozen=True)
class Upload:
    """A file part: it lands as ``.upload_files/<filename>``; its argument is that path."""

    filename: str
    source: Path

    @property
    def argument(self) -> str:
        return f"{UPLOAD_DIR}/{self.filename}"


#: An argument value: plain text, or a file to upload.
FieldValue = str | Upload


@dataclass(frozen=True)
class CallRequest:
    """One scripting call: the script path, its options in order, its positionals in order."""

    call: str
    options: tuple[tuple[str, FieldValue], ...] = ()
    positionals: tuple[FieldValue, ...] = ()
    #: File parts in fields that are no argument: stored, but not passed (see decisions).
    extra_uploads: tuple[Upload, ...] = ()
    extra_fields: tuple[str, ...] = field(default=(), compare=False)
    #: The subset of ``extra_fields`` whose value reaches the script in no way: text fields
    #: (and file parts when those are not stored). The server drops them without a word; the
    #: emulator says so in the run's notes.
    ignored_fields: tuple[str, ...] = field(default=(), compare=False)

    @property
    def uploads(self) -> tuple[Upload, ...]:
        values = [v for _, v in self.options] + list(self.positionals)
        return tuple(v for v in values if isinstance(v, Upload)) + self.extra_uploads

    def user_arguments(self) -> list[str]:
        """The arguments after the token: ``--name=value`` per option, then the positionals."""
        args = [f"--{name}={_text(value)}" for name, value in self.options]
        args.extend(_text(value) for value in self.positionals)
        return args


def _text(value: FieldValue) -> str:
    return value.argument if isinstance(value, Upload) else value


def build_argv(script: Path, token: str | None, request: CallRequest) -> list[str]:
    """The server's argv: absolute script path, ``--auth-token=…`` first, then user arguments."""
    argv = [str(script)]
    if token is not None:
        argv.append(f"--auth-token={token}")
    arguments = request.user_arguments()
    for position, argument in enumerate(arguments, start=1):
        if "\x00" in argument:  # a CallRequest built by hand, not by request_from_form
            raise BadRequestForm(
                f"Argument {position} of {request.call!r} holds a NUL byte, which no program's "
                "arguments can carry; remove it, or send the data as a file.")
    argv.extend(arguments)
    return argv


def _refuse_nul(name: str, value: FieldValue) -> None:
    """A NUL cannot be in an argument (C strings end there; Java's ProcessBuilder refuses it
    too), so the call is refused with 400 before anything is stored or started (a **U**
    decision, :data:`~sss_emulator.decisions.CONTROL_CHARACTER_STATUS`)."""
    if "\x00" in name or (not isinstance(value, Upload) and "\x00" in value):
        where = "name" if "\x00" in name else "value"
        error = BadRequestForm(
            f"The {where} of field {name!r} holds a NUL byte, which no program's arguments can "
            "carry; remove it, or send the data as a file (-p0 @file).")
        error.http_status = decisions.CONTROL_CHARACTER_STATUS
        raise error


def call_string(request: CallRequest) -> str:
    """The response's ``<call>``: the call path and the user's arguments; never the token."""
    return " ".join([request.call, *request.user_arguments()])


def check_upload_name(filename: str) -> str:
    """Refuse upload names that could land outside ``.upload_files`` (a **U** decision: 400)."""
    if not filename:
        raise BadRequestForm("An uploaded file has an empty filename; give the part a file name.")
    if "\x00" in filename:
        raise BadRequestForm(f"Upload filename {filename!r} contains a NUL byte; rename the file.")
    if len(filename.encode("utf-8", "surrogatepass")) > MAX_UPLOAD_NAME_BYTES:
        raise BadRequestForm(
            f"Upload filename {filename[:40]!r}… is {len(filename)} characters long; file names "
            f"may have at most {MAX_UPLOAD_NAME_BYTES} bytes. Rename the file."
        )
    if "/" in filename or "\\" in filename or filename in (".", ".."):
        raise BadRequestForm(
            f"Upload filename {filename!r} is not a plain file name; send only the base name "
            "(no '/', '\\', '.' or '..')."
        )
    return filename


def _option_name(field_name: str) -> str:
    name = field_name[2:]
    if not name:
        raise BadRequestForm(
            f"Field {field_name!r} has no option name; write -O<name>=<value>, e.g. -Ofile=x."
        )
    return name


def request_from_form(
    fields: Iterable[tuple[str, FieldValue]],
    files: Iterable[tuple[str, Upload]] = (),
) -> CallRequest:
    """Build a request from raw form parts, in the order they arrived.

    ``fields`` are ``(name, value)`` pairs such as ``("call", "a.py")``, ``("-p0", "x")``,
    ``("-Oname", "v")`` or ``("-Ofile", Upload(...))``; ``files`` are more file parts, taken after
    ``fields`` (where pylib puts them). Options keep request order; positionals are ordered by
    index and a gap is refused.
    """
    call: str | None = None
    options: list[tuple[str, FieldValue]] = []
    positionals: dict[int, FieldValue] = {}
    extra: list[str] = []
    ignored: list[str] = []
    extra_uploads: list[Upload] = []

    seen_files: set[str] = set()

    def place(name: str, value: FieldValue) -> None:
        nonlocal call
        _refuse_nul(name, value)
        if isinstance(value, Upload):
            check_upload_name(value.filename)
            if value.filename in seen_files:
                raise BadRequestForm(
                    f"Two uploads are named {value.filename!r}; they would overwrite each other "
                    f"in {UPLOAD_DIR}/. Rename one."
                )
            seen_files.add(value.filename)
        match = _POSITIONAL.match(name)
        if name == "call":
            if isinstance(value, Upload):
                raise BadRequestForm("The 'call' field must be text, not a file.")
            if call is not None:
                raise BadRequestForm("The 'call' field was sent twice; send it once.")
            call = value
        elif match:
            index = int(match.group(1))
            if index in positionals:
                raise BadRequestForm(f"Positional -p{index} was sent twice; send each index once.")
            positionals[index] = value
        elif name.startswith("-O"):
            option = _option_name(name)
            if not decisions.REPEATED_OPTIONS_KEPT:
                options[:] = [(n, v) for n, v in options if n != option]
            options.append((option, value))
        elif name.startswith("-p"):
            raise BadRequestForm(
                f"Field {name!r} is not a positional; write -p0, -p1, … with a number."
            )
        else:
            extra.append(name)
            if isinstance(value, Upload) and decisions.STORE_FILE_PARTS_WITHOUT_ARGUMENT:
                extra_uploads.append(value)
            else:
                ignored.append(name)

    for name, value in fields:
        place(name, value)
    for name, upload in files:
        place(name, upload)

    if not call:
        raise BadRequestForm("The request has no 'call' field; name the script to run.")
    return CallRequest(
        call=call,
        options=tuple(options),
        positionals=_ordered_positionals(positionals),
        extra_uploads=tuple(extra_uploads),
        extra_fields=tuple(extra),
        ignored_fields=tuple(ignored),
    )


def ignored_field_note(name: str) -> str:
    """One line saying that form field ``name`` was dropped, with the likely intended name.

    The server passes only ``call``, ``-p<N>`` and ``-O<name>`` on; a field such as
    ``--option2`` (the CLI's spelling) silently reaches nothing, which is hard to spot.
    """
    guess = None
    if name.startswith("--") and len(name) > 2:
        guess = f"-O{name[2:]}"
    elif name.startswith("-") and len(name) > 1:
        guess = f"-O{name[1:]}"
    elif re.fullmatch(r"p\d+|O.+", name):
        guess = f"-{name}"
    hint = f" (did you mean {guess}?)" if guess else ""
    return (f"form field {name!r} was ignored: the server passes only call, -p<N> and "
            f"-O<name> to the script{hint}")


def _ordered_positionals(positionals: Mapping[int, FieldValue]) -> tuple[FieldValue, ...]:
    indices = sorted(positionals)
    if decisions.REFUSE_POSITIONAL_GAPS:
        for expected, index in enumerate(indices):
            if index != expected:
                raise BadRequestForm(
                    f"Positional -p{expected} is missing (got -p{index}); positionals must be "
                    "numbered -p0, -p1, … without gaps."
                )
    return tuple(positionals[i] for i in indices)


def request_from_pylib(
    call: str,
    args: Sequence[object],
    files: Mapping[str, str | Path] | None,
    kwargs: Mapping[str, object],
) -> CallRequest:
    """Build a request exactly as pylib's ``run_server_side_script`` would send it.

    Options first (``str(value)``), then positionals, then file parts with only the base name of
    each path, as pylib's ``_make_multipart_request`` does.
    """
    fields: list[tuple[str, FieldValue]] = [("call", call)]
    fields += [(f"-O{key}", str(val)) for key, val in kwargs.items()]
    fields += [(f"-p{i}", str(val)) for i, val in enumerate(args)]
    uploads = [
        (name, Upload(filename=PurePosixPath(str(path)).name, source=Path(path)))
        for name, path in (files or {}).items()
    ]
    return request_from_form(fields, uploads)
