"""Read the body of a ``POST /scripting`` into raw form parts, in the order they arrived.

Order matters (options keep request order, contract §1), so this drives werkzeug's sans-I/O
``MultipartDecoder`` itself instead of ``request.form``/``request.files``, which split fields
from files. File parts are streamed straight to disk below a directory the caller owns (and
removes); nothing is held in memory beyond one chunk and one text field.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl

from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData
from werkzeug.wsgi import get_input_stream

from sss_emulator import decisions
from sss_emulator.core.call import FieldValue, Upload
from sss_emulator.errors import BadRequestForm, RequestTooLarge, UnsupportedMediaType

__all__ = ("FormLimits", "read_form")

logger = logging.getLogger("sss_emulator.serve.form")

_CHUNK = 64 * 1024
_URLENCODED = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"


class FormLimits:
    """How much one request may send; every limit answers 413 when exceeded."""

    def __init__(
        self,
        max_body: int | None = decisions.MAX_REQUEST_BODY_BYTES,
        max_field: int = decisions.MAX_FORM_FIELD_BYTES,
        max_parts: int = decisions.MAX_FORM_PARTS,
    ) -> None:
        self.max_body = max_body
        self.max_field = max_field
        self.max_parts = max_parts

    def too_large(self) -> RequestTooLarge:
        """The whole body is over ``max_body``."""
        limit = self.max_body if self.max_body is not None else "unlimited"
        return RequestTooLarge(decisions.TOO_LARGE_DESCRIPTION.format(limit=limit)
                               + " Send a smaller body, or start the server with a larger "
                               "--max-body.")

    def too_many_parts(self) -> RequestTooLarge:
        """More fields and files than ``max_parts``: a small body can hit this limit, so the
        message names it (not the body size, which was fine)."""
        return RequestTooLarge(
            f"The form has more than {self.max_parts} parts (fields and files), the most this "
            "server accepts in one request. Send fewer parts (e.g. the files as one archive), "
            "or start the server with a larger --max-form-parts.")

    def field_too_large(self, what: str = "A text field of the form") -> RequestTooLarge:
        """A text field (or a whole urlencoded body) over ``max_field``."""
        return RequestTooLarge(
            f"{what} is larger than this server accepts for text ({self.max_field} bytes). "
            "Send large values as a file part instead (curl -F 'name=@file').")


def read_form(
    environ: dict[str, Any], upload_dir: Path, limits: FormLimits,
    on_call: Callable[[str], None] | None = None,
) -> list[tuple[str, FieldValue]]:
    """The body's parts as ``(name, text | Upload)``; uploads land in ``upload_dir``.

    ``on_call`` sees the ``call`` field as soon as it has arrived and may raise an
    :class:`~sss_emulator.errors.EmulatorError` to refuse the request there, before the file
    parts after it are read or stored (pylib and browsers send ``call`` first).

    ``upload_dir`` is created when the first file part arrives (its parent must exist); the
    caller removes it.

    Raises :class:`UnsupportedMediaType` (415) for other content types, :class:`RequestTooLarge`
    (413) past a limit and :class:`BadRequestForm` (400) for a body that cannot be parsed.
    """
    mimetype, options = parse_options_header(environ.get("CONTENT_TYPE"))
    if mimetype not in (_URLENCODED, _MULTIPART):
        shown = mimetype or "no Content-Type"
        raise UnsupportedMediaType(
            f"Content type {shown!r} is not accepted by /scripting; send "
            f"{_URLENCODED} or {_MULTIPART}."
        )
    try:
        stream = get_input_stream(environ, max_content_length=limits.max_body)
        if mimetype == _URLENCODED:
            fields = _read_urlencoded(stream, limits)
            if on_call is not None:
                for name, value in fields:
                    if name == "call" and isinstance(value, str):
                        on_call(value)
                        break
            return fields
        return _read_multipart(stream, options.get("boundary", ""), upload_dir, limits, on_call)
    except RequestEntityTooLarge as exc:
        raise limits.too_large() from exc
    except BadRequest as exc:  # e.g. the client went away in the middle of the body
        raise BadRequestForm(
            f"The request body could not be read ({exc.description}); send it again."
        ) from exc


def _read_urlencoded(stream: IO[bytes], limits: FormLimits) -> list[tuple[str, FieldValue]]:
    data = stream.read(limits.max_field + 1)
    if len(data) > limits.max_field:
        raise limits.field_too_large("The urlencoded body")
    try:
        pairs = parse_qsl(data.decode("utf-8", errors="replace"), keep_blank_values=True,
                          encoding="utf-8", errors="replace",
                          max_num_fields=limits.max_parts)
    except ValueError as exc:  # more fields than max_num_fields
        raise limits.too_many_parts() from exc
    return list(pairs)


def _read_multipart(
    stream: IO[bytes], boundary: str, upload_dir: Path, limits: FormLimits,
    on_call: Callable[[str], None] | None = None,
) -> list[tuple[str, FieldValue]]:
    if not boundary:
        raise BadRequestForm(
            "The multipart body has no boundary in its Content-Type; let your HTTP client "
            "build the multipart request (e.g. curl -F)."
        )
    try:
        decoder = MultipartDecoder(boundary.encode("ascii"), max_form_memory_size=limits.max_field,
                                   max_parts=limits.max_parts)
    except UnicodeEncodeError as exc:
        raise BadRequestForm(f"The multipart boundary {boundary!r} is not ASCII.") from exc
    parts = _Parts(upload_dir, limits, on_call)
    try:
        while True:
            chunk = stream.read(_CHUNK)
            decoder.receive_data(chunk or None)
            parts.consume(decoder)
            if not chunk:
                break
    except RequestEntityTooLarge as exc:
        # The decoder says only "too large": it is the part count when that many have arrived,
        # else a text field over max_field (the body's own size is checked by the stream).
        if parts.count >= limits.max_parts:
            raise limits.too_many_parts() from exc
        raise limits.field_too_large() from exc
    except (ValueError, AttributeError, TypeError, IndexError) as exc:
        # werkzeug's decoder raises ValueError (and, on some garbage, worse) for bodies it
        # cannot parse; the client sent them, so this is a 400, never a 500.
        raise BadRequestForm(
            f"The multipart body is malformed ({exc or type(exc).__name__}); let your HTTP client "
            "build it (e.g. curl -F name=value -F name=@file)."
        ) from exc
    finally:
        parts.close()
    if not parts.complete:
        raise BadRequestForm(
            "The multipart body ends before its closing boundary; send the whole body."
        )
    return parts.fields


class _Parts:
    """Collects decoder events into form parts; file data goes to numbered files on disk."""

    def __init__(self, upload_dir: Path, limits: FormLimits,
                 on_call: Callable[[str], None] | None = None) -> None:
        self.upload_dir = upload_dir
        self.on_call = on_call
        self.limits = limits
        self.fields: list[tuple[str, FieldValue]] = []
        self.complete = False
        #: Parts begun so far (the decoder refuses the one after ``max_parts``).
        self.count = 0
        self._current: Field | File | None = None
        self._text: list[bytes] = []
        self._text_size = 0
        self._file: IO[bytes] | None = None
        self._path: Path | None = None

    def consume(self, decoder: MultipartDecoder) -> None:
        event = decoder.next_event()
        while not isinstance(event, NeedData):
            if isinstance(event, Epilogue):
                self.complete = True
                return
            if isinstance(event, Field | File):
                self._start(event)
            elif isinstance(event, Data):
                self._data(event)
            event = decoder.next_event()

    def _start(self, event: Field | File) -> None:
        if not event.name:
            raise ValueError("a part has no name in its Content-Disposition")
        self.count += 1
        self._current = event
        if isinstance(event, File):
            self.upload_dir.mkdir(mode=0o700, exist_ok=True)  # only bodies with files need it
            self._path = self.upload_dir / f"part-{len(self.fields)}"
            self._file = self._path.open("wb")
        else:
            self._text, self._text_size = [], 0

    def _data(self, event: Data) -> None:
        current = self._current
        if current is None:
            raise ValueError("data outside a part")
        if isinstance(current, File):
            assert self._file is not None and self._path is not None
            self._file.write(event.data)
            if not event.more_data:
                self._file.close()
                self._file = None
                self.fields.append((current.name, Upload(current.filename, self._path)))
                self._current = None
            return
        self._text_size += len(event.data)
        if self._text_size > self.limits.max_field:
            raise self.limits.field_too_large()
        self._text.append(event.data)
        if not event.more_data:
            text = b"".join(self._text).decode("utf-8", errors="replace")
            self.fields.append((current.name, text))
            self._current = None
            if current.name == "call" and self.on_call is not None:
                on_call, self.on_call = self.on_call, None
                on_call(text)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
