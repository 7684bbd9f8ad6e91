"""The script's own arguments on our command line: ``-pN VALUE`` and ``-Oname=VALUE``.

They use the scripting API's field names, so a call reads the same in a terminal, in curl
(``-F -p0=@data.json``) and in pylib. ``@path`` uploads a file; ``@@text`` passes a literal
``@text``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from sss_emulator.core.call import FieldValue, Upload
from sss_emulator.errors import BadRequestForm

__all__ = ("ATTACH_FIELD", "attachments", "parse_script_args")

#: The form field of ``--attach`` files: not an argument, so the file is stored but not passed.
ATTACH_FIELD = "file"

_POSITIONAL = re.compile(r"-p(\d+)(?:=(.*))?\Z", re.DOTALL)


def _value(text: str, base: Path) -> FieldValue:
    if text.startswith("@@"):
        return text[1:]
    if text.startswith("@"):
        if len(text) == 1:
            raise BadRequestForm("'@' needs a file path after it, e.g. -p0 @data.json")
        path = (base / text[1:]).absolute()
        if not path.is_file():
            raise BadRequestForm(
                f"Upload {text[1:]!r} is not a readable file; check the path after '@' "
                "(write @@… for a value that starts with '@')."
            )
        return Upload(filename=path.name, source=path)
    return text


def parse_script_args(args: Sequence[str], base: Path) -> list[tuple[str, FieldValue]]:
    """``["-p0", "x", "-Oa=1", "-p1", "@f.json"]`` → form fields in the order given.

    Raises :class:`BadRequestForm` naming the argument that cannot be understood.
    """
    fields: list[tuple[str, FieldValue]] = []
    index = 0
    while index < len(args):
        arg = args[index]
        positional = _POSITIONAL.match(arg)
        if positional:
            name, inline = f"-p{positional.group(1)}", positional.group(2)
        elif arg.startswith("-O"):
            name, sep, inline_text = arg.partition("=")
            inline = inline_text if sep else None
            if name == "-O":
                raise BadRequestForm(
                    f"Option {arg!r} has no name; write -O<name>=<value>, e.g. -Ooption1=x."
                )
        else:
            raise BadRequestForm(
                f"Unexpected argument {arg!r}; pass script arguments as -p0 VALUE (positional) "
                "or -Oname=VALUE (option)."
            )
        if inline is None:
            if index + 1 >= len(args):
                raise BadRequestForm(f"{arg} needs a value, e.g. {arg} VALUE or {arg}=VALUE.")
            inline = args[index + 1]
            index += 1
        fields.append((name, _value(inline, base)))
        index += 1
    return fields


def attachments(paths: Sequence[str], base: Path) -> list[tuple[str, FieldValue]]:
    """``--attach PATH`` values → file parts in a field that is no argument."""
    return [(ATTACH_FIELD, _value("@" + path, base)) for path in paths]
