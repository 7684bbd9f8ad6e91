"""Capture the mail scripts send, both ways they send it, into one spool directory.

caosadvancedtools <= 0.16 and plain scripts run the ``[Misc] sendmail`` program with
``-t -i -f FROM`` and the message on stdin; pylib's ``send_email`` (caosadvancedtools >= 0.17)
speaks SMTP to ``[Email] smtp_server``. :func:`write_sendmail_program` and :class:`SmtpSink` both
write one JSON file per message into the spool, and :class:`MailCollector` reads them back, so
nothing leaves the machine and a crashed script's mail is still there.

aiosmtpd (and with it asyncio) and the e-mail parser are imported when first needed: by the
SMTP sink's first client, and by reading the spool back when it holds mail.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from _socket import AF_INET, SO_REUSEADDR, SOCK_STREAM, SOL_SOCKET
from _socket import socket as RawSocket  # not `socket`: see httpd.bind
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sss_emulator.backend.lifecycle import OnFirstConnection, Service

if TYPE_CHECKING:
    from aiosmtpd.controller import Controller

__all__ = ["MAIL_SPOOL_ENV", "Mail", "MailCollector", "SmtpSink", "spool_message",
           "write_sendmail_program"]

#: Where a ``sendmail`` written without a spool of its own puts mail: the stand-in sets it in
#: each run's environment, so one program serves every stand-in (no directory per run for it).
MAIL_SPOOL_ENV = "SSS_EMULATOR_MAIL_SPOOL"


@dataclass(frozen=True)
class Mail:
    """One captured message."""

    from_addr: str
    to: list[str]
    cc: list[str]
    subject: str
    body: str
    headers: dict[str, str]
    bcc: list[str] = field(default_factory=list)
    via: Literal["sendmail", "smtp"] = "smtp"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--format json``."""
        return {
            "from": self.from_addr,
            "to": self.to,
            "cc": self.cc,
            "bcc": self.bcc,
            "subject": self.subject,
            "body": self.body,
            "headers": self.headers,
            "via": self.via,
        }


def spool_message(
    spool_dir: Path, raw: bytes, *, via: str, envelope_from: str | None, recipients: list[str]
) -> Path:
    """Write one message atomically; the file name sorts by arrival."""
    import uuid  # here, not above: uuid imports platform (~3 ms), and most runs send no mail

    spool_dir.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
    record = {
        "via": via,
        "envelope_from": envelope_from,
        "recipients": recipients,
        "raw": raw.decode("utf-8", errors="replace"),
    }
    fd, tmp = tempfile.mkstemp(dir=spool_dir, prefix=".tmp-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(record, handle)
    final = spool_dir / name
    os.replace(tmp, final)
    return final


class MailCollector:
    """Reads the spool back as :class:`Mail` objects, oldest first.

    The spool directory is made by whoever writes the first message (the ``sendmail`` program or
    the SMTP sink), so a run that sends none creates (and removes) no directory for it.
    """

    def __init__(self, spool_dir: str | Path) -> None:
        self.spool_dir = Path(spool_dir)

    @property
    def mails(self) -> list[Mail]:
        return [_parse_record(p) for p in self._spooled()]

    def clear(self) -> None:
        """Forget captured mail, e.g. between two runs that share a collector."""
        for path in self._spooled():
            path.unlink()

    def _spooled(self) -> list[Path]:
        """The spooled messages, oldest first (none while the spool does not exist: one failed
        system call for a run that sent no mail)."""
        try:
            names = os.listdir(self.spool_dir)
        except OSError:
            return []
        return [self.spool_dir / name for name in sorted(names) if name.endswith(".json")]


def _parse_record(path: Path) -> Mail:
    from email import message_from_bytes, policy
    from email.message import EmailMessage

    record = json.loads(path.read_text(encoding="utf-8"))
    message = message_from_bytes(record["raw"].encode("utf-8"), policy=policy.default)
    assert isinstance(message, EmailMessage)
    to = _addresses(message.get_all("To", []))
    cc = _addresses(message.get_all("Cc", []))
    bcc = _addresses(message.get_all("Bcc", []))
    listed = set(to) | set(cc)
    bcc += [r for r in record.get("recipients", []) if r not in listed and r not in bcc]
    body_part = message.get_body(preferencelist=("plain", "html"))
    body = body_part.get_content() if body_part is not None else ""
    return Mail(
        from_addr=str(message.get("From") or record.get("envelope_from") or ""),
        to=to or list(record.get("recipients", [])),
        cc=cc,
        subject=str(message.get("Subject") or ""),
        body=body,
        headers={k: str(v) for k, v in message.items()},
        bcc=bcc if to else [],
        via=record.get("via", "smtp"),
    )


def _addresses(values: list[Any]) -> list[str]:
    from email.utils import getaddresses

    return [addr for _name, addr in getaddresses([str(v) for v in values]) if addr]


_SENDMAIL = '''#!{python}
"""sendmail stand-in written by sss-emulator: spools the message instead of sending it."""
import json, os, sys, tempfile, time, uuid
spool = {spool!r} or os.environ.get({env!r})
if not spool:
    sys.exit("sendmail (sss-emulator): no mail spool; {env} is not set. Run the script through "
             "sss-emulate, or pass the stand-in's run_env to it.")
args, sender, recipients, i = sys.argv[1:], None, [], 0
while i < len(args):
    arg = args[i]
    if arg in ("-f", "-r") and i + 1 < len(args):  # envelope sender
        sender = args[i + 1]; i += 2; continue
    if arg in ("-F", "-B", "-N", "-R", "-V", "-X", "-p") and i + 1 < len(args):  # take a value
        i += 2; continue
    if arg[:2] in ("-f", "-r") and len(arg) > 2:
        sender = arg[2:]
    elif arg == "--":
        recipients.extend(args[i + 1:]); break
    elif not arg.startswith("-"):
        recipients.append(arg)
    i += 1
raw = sys.stdin.buffer.read()
os.makedirs(spool, exist_ok=True)
record = {{"via": "sendmail", "envelope_from": sender, "recipients": recipients,
          "raw": raw.decode("utf-8", errors="replace")}}
fd, tmp = tempfile.mkstemp(dir=spool, prefix=".tmp-")
with os.fdopen(fd, "w", encoding="utf-8") as handle:
    json.dump(record, handle)
os.replace(tmp, os.path.join(spool, "%020d-%s.json" % (time.time_ns(), uuid.uuid4().hex[:8])))
'''


def write_sendmail_program(bin_dir: str | Path, spool_dir: str | Path | None) -> Path:
    """Write an executable ``sendmail`` into ``bin_dir`` that spools into ``spool_dir``.

    It accepts what caosadvancedtools passes (``-t -i -f FROM``, message on stdin), ignores other
    flags, and treats bare arguments as extra recipients. With ``spool_dir=None`` it spools into
    ``$SSS_EMULATOR_MAIL_SPOOL`` (:data:`MAIL_SPOOL_ENV`), so one program can serve many
    stand-ins. A program already there with the same text is left alone; a new one replaces the
    old atomically, so a run never sees half a program.
    """
    target = Path(bin_dir) / "sendmail"
    spool = str(Path(spool_dir).resolve()) if spool_dir is not None else ""
    text = _SENDMAIL.format(python=sys.executable, spool=spool, env=MAIL_SPOOL_ENV)
    try:
        if target.read_text(encoding="utf-8") == text and os.access(target, os.X_OK):
            return target
    except OSError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".sendmail-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, target)
    return target


class _SpoolHandler:
    def __init__(self, spool_dir: Path) -> None:
        self.spool_dir = spool_dir

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode("utf-8")
        spool_message(
            self.spool_dir,
            raw,
            via="smtp",
            envelope_from=envelope.mail_from,
            recipients=list(envelope.rcpt_tos),
        )
        return "250 Message accepted for delivery"


def _controller(handler: Any, sock: RawSocket) -> Controller:
    """aiosmtpd's Controller cannot take port 0; it gets our bound socket instead."""
    import socket

    from aiosmtpd.controller import Controller

    host, port = sock.getsockname()[:2]
    listening = socket.socket(fileno=sock.detach())  # asyncio wants the full socket object

    class BoundController(Controller):
        def _create_server(self) -> Any:
            return self.loop.create_server(self._factory_invoker, sock=listening)

    return BoundController(handler, hostname=host, port=port)


class SmtpSink(Service):
    """A local SMTP server (aiosmtpd) on 127.0.0.1 and an ephemeral port, spooling every mail.

    With ``on_first_connection`` only the socket is bound at :meth:`start` (its port can go into
    the ini at once); aiosmtpd and its event loop start when a client first connects, so a run
    that sends no mail pays for neither.

    Example::

        with SmtpSink(collector) as sink:
            ini = patch_pylinkahead_ini(None, url, smtp=(sink.host, sink.port))
    """

    def __init__(self, collector: MailCollector, *, on_first_connection: bool = False) -> None:
        self.collector = collector
        self.host = "127.0.0.1"
        self.port = 0
        self.on_first_connection = on_first_connection
        self._controller: Controller | None = None
        self._waiter: OnFirstConnection | None = None

    def start(self) -> SmtpSink:
        sock = self.listen()
        if self.on_first_connection:
            self._waiter = OnFirstConnection({sock: self.serve}, "sss-smtp-waiter").start()
        else:
            self.serve(sock)
        return self

    def listen(self) -> RawSocket:
        """Bind and listen on an ephemeral port (:attr:`port`); :meth:`serve` takes it over."""
        sock = RawSocket(AF_INET, SOCK_STREAM)
        sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        sock.listen(100)
        self.port = sock.getsockname()[1]
        return sock

    def serve(self, sock: RawSocket) -> None:
        """Start aiosmtpd (and its event loop thread) on the listening ``sock``."""
        controller = _controller(_SpoolHandler(self.collector.spool_dir), sock)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        if self._waiter is not None:
            self._waiter.stop()  # waits for a start under way, so the controller is known
            self._waiter = None
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
