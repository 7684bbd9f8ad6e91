"""``sss-emulate record``: a proxy in front of your server that turns real calls into tests.

Only maps options onto :class:`~sss_emulator.fidelity.record.RecordingProxy` and
:func:`~sss_emulator.httpd.serve`.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sss_emulator.cli.options import SettingValue, configure_logging
from sss_emulator.config import SETTINGS
from sss_emulator.terminal import printable

if TYPE_CHECKING:
    from sss_emulator.fidelity.observed import Observed

__all__ = ("record_command",)

logger = logging.getLogger("sss_emulator.cli.record")


def _recorded_line(path: Path, observed: Observed) -> str:
    if observed.code is not None:
        what = f"code {observed.code}"
    else:
        what = f"HTTP {observed.status}: {observed.error or 'refused'}"
    return f"sss-emulate record: {path.name}: {observed.call or '(no call)'} ({what})"


@click.command("record")
@click.option("--server-url", required=True, envvar="SSS_SERVER_URL", metavar="URL",
              help="The LinkAhead server to forward to, with its context root if any. "
                   "[SSS_SERVER_URL]")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address the proxy listens on.")
@click.option("--port", type=click.IntRange(0, 65535), default=10444, show_default=True,
              help="Port the proxy listens on; 0 picks a free one.")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              envvar="SSS_ALLOWED_HOSTS", type=SettingValue("allowed_hosts", item=True),
              help="Also answer requests addressed to this name (repeatable; * for any); on "
                   "127.0.0.1 only localhost, 127.x and [::1] are answered. "
                   "[SSS_ALLOWED_HOSTS]")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("recorded"), show_default=True,
              help="Folder for the call files (sss_NNNN_<call>.yaml) and their uploads.")
@click.option("--bin-dir", "bin_dirs", multiple=True,
              type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Write this bin dir into each call file (repeatable), so it runs anywhere "
                   "without configuration.")
@click.option("--rules", "rules_file", type=click.Path(dir_okay=False, exists=True,
                                                       path_type=Path),
              help="Extra normalisation, 'REGEX => REPLACEMENT' lines; the call files name it.")
@click.option("--cacert", type=click.Path(dir_okay=False, exists=True, path_type=str),
              envvar="SSS_CACERT", help="CA certificate of --server-url. [SSS_CACERT]")
@click.option("--max-body", "max_body_mib", type=click.FloatRange(min=0), default=None,
              help="Largest /scripting request body in MiB the proxy spools and forwards "
                   "(default 4096, as serve); larger answers 413 and reaches no server.")
@click.option("--quiet", is_flag=True, help="Do not log one line per request.")
@click.option("--debug", is_flag=True, help="Log what the proxy does, with tracebacks.")
def record_command(server_url: str, host: str, port: int, allowed_hosts: tuple[str, ...],
                   out_dir: Path,
                   bin_dirs: tuple[Path, ...], rules_file: Path | None, cacert: str | None,
                   max_body_mib: float | None, quiet: bool, debug: bool) -> None:
    """Forward everything to --server-url; save every /scripting call as a call file.

    Point the web UI, pylib or curl at the printed address instead of the server: they work
    as before, and each script call becomes OUT/sss_NNNN_<call>.yaml (plus its uploads) with
    the server's answer as the expectation. Run them with pytest or `sss-emulate replay`.
    No password, cookie or token is stored.

    \b
    Example:
      sss-emulate record --server-url https://linkahead.example.org --out tests/recorded
    """
    from sss_emulator import decisions
    from sss_emulator.cli.serve import exposure_warning
    from sss_emulator.connect.credentials import cleartext_warning
    from sss_emulator.errors import EmulatorError
    from sss_emulator.fidelity.normalise import load_rules
    from sss_emulator.fidelity.record import RecordingProxy
    from sss_emulator.fidelity.recording import CallFileWriter
    from sss_emulator.httpd import serve
    from sss_emulator.wire import context_root_prefix

    configure_logging(debug)
    if not quiet:
        logging.getLogger("werkzeug").setLevel(logging.INFO)
    try:
        rules = load_rules(rules_file) if rules_file else ()
        writer = CallFileWriter(out_dir.absolute(), upstream=server_url, bin_dirs=bin_dirs,
                                rules_file=rules_file, rules=rules)
        max_body = (int(max_body_mib * 1024 * 1024) if max_body_mib is not None
                    else decisions.MAX_REQUEST_BODY_BYTES)
        proxy = RecordingProxy(server_url, writer, cacert=cacert, max_body=max_body)
    except EmulatorError as error:
        raise click.UsageError(error.message) from error
    except ValueError as error:
        raise click.UsageError(f"--server-url {server_url!r} is not an http(s) URL; give the "
                               "server's address, e.g. https://linkahead.example.org.") from error
    proxy.on_record = lambda path, observed: click.echo(
        printable(_recorded_line(path, observed), one_line=True), err=True)
    root = context_root_prefix(proxy.context_root)

    def ready(url: str) -> None:
        exposed = exposure_warning(host, url, risk=(
            f"Anyone who can reach it can use it to reach {proxy.upstream}; their logins "
            "cross to the proxy unencrypted, and their calls are recorded into your folder."))
        if exposed is not None:
            click.echo(printable(exposed), err=True)
        clear = cleartext_warning(proxy.upstream, "the logins (passwords) and session tokens "
                                                  "the proxy forwards")
        if clear is not None:
            click.echo(printable(f"sss-emulate record: {clear}"), err=True)
        click.echo(printable(f"Recording calls to {proxy.upstream} into {writer.out_dir}/"),
                   err=True)
        click.echo(printable(f"Point pylib or the browser at {url}{root}/ instead of the "
                             "server (the same users and passwords)."), err=True)
        click.echo("Press Ctrl+C to stop.", err=True)
        sys.stderr.flush()

    code = serve(proxy, host, port, quiet=quiet, on_ready=ready,
                 stopping="calls in flight are cut off.", prog="sss-emulate record",
                 allowed_hosts=SETTINGS["allowed_hosts"].parse(list(allowed_hosts)))
    count = len(proxy.recorded)
    click.echo(printable(f"sss-emulate record: {count} call{'s' if count != 1 else ''} "
                         f"recorded in {writer.out_dir}."), err=True)
    sys.exit(code)
