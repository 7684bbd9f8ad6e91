"""The emulator's log records, with :mod:`logging` loaded only for a record that can be shown.

A plain run logs nothing below WARNING, yet loading ``logging`` (with ``traceback``, ``string``
and ``textwrap``) costs a few milliseconds of every ``sss-emulate``'s start. Until something
loads ``logging``, its root logger is at WARNING with no handler, so a debug or info record could
not appear: :class:`Logger` drops those then, and loads ``logging`` for the first warning.
:func:`configure` (``sss-emulate``'s format, ``--debug``) takes effect at once where ``logging``
is needed or loaded, else when a :class:`Logger` loads it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import logging

__all__ = ("Logger", "configure", "printable_formatter")

_FORMAT = "sss-emulate: %(name)s: %(message)s"
#: The level :func:`configure` asked for before ``logging`` was loaded.
_pending: list[int] = []


def configure(debug: bool) -> None:
    """``sss-emulate``'s logging: DEBUG with ``--debug``, else WARNING, on stderr."""
    _pending[:] = [10 if debug else 30]
    if debug or "logging" in sys.modules:
        _load()


def _load() -> None:
    import logging

    if _pending:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(printable_formatter())
        logging.basicConfig(level=_pending.pop(), handlers=[handler])


def printable_formatter(fmt: str = _FORMAT) -> logging.Formatter:
    """A formatter whose lines show control characters as escapes: log lines (``--debug``,
    warnings) name files and requests too (:func:`sss_emulator.escapes.printable`).

    werkzeug's request lines are the exception: werkzeug escapes the request's text itself
    and colours the line on a terminal, which escaping again would print as ``\\x1b[31m``.
    """
    import logging

    from sss_emulator.escapes import printable

    class _Printable(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            if record.name == "werkzeug" and record.exc_info is None:
                text: str = super().format(record)
                return text
            # the message on one line (a newline in a request's path must not forge a line of
            # ours); a traceback keeps its lines, each shown printable
            shown = logging.makeLogRecord(record.__dict__)
            shown.msg, shown.args = printable(record.getMessage(), one_line=True), None
            return printable(super().format(shown))

    return _Printable(fmt)


class Logger:
    """``logging.getLogger(name)``, loaded on the first record that can be shown."""

    __slots__ = ("_real", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._real: logging.Logger | None = None

    def _logger(self) -> logging.Logger:
        if self._real is None:
            _load()
            import logging

            self._real = logging.getLogger(self.name)
        return self._real

    def debug(self, msg: str, *args: object, **kwargs: Any) -> None:
        if self._real is not None or "logging" in sys.modules:
            self._logger().debug(msg, *args, **kwargs)

    def info(self, msg: str, *args: object, **kwargs: Any) -> None:
        if self._real is not None or "logging" in sys.modules:
            self._logger().info(msg, *args, **kwargs)

    def warning(self, msg: str, *args: object, **kwargs: Any) -> None:
        self._logger().warning(msg, *args, **kwargs)

    def error(self, msg: str, *args: object, **kwargs: Any) -> None:
        self._logger().error(msg, *args, **kwargs)

    def exception(self, msg: str, *args: object, **kwargs: Any) -> None:
        self._logger().exception(msg, *args, **kwargs)
