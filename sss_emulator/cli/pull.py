"""``sss-emulate pull``: the user's data model and a slice of real data, as a seed file.

Only maps options onto :func:`sss_emulator.fidelity.pull.pull` and prints progress and a
closing line on stderr. Exit status: 0 written, 125 nothing written (bad input, login refused,
server unreachable, a query or entity the server refused; as every command of ours, never 2),
130 interrupted (nothing written).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

import click

from sss_emulator.cli.options import configure_logging
from sss_emulator.errors import EXIT_NOT_RUN

__all__ = ("pull_command",)

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


class ByteSize(click.ParamType):  # type: ignore[type-arg]
    """``10M``, ``512K``, ``1G`` or a plain number of bytes."""

    name = "SIZE"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        match = re.fullmatch(r"\s*(\d+)\s*([KMG]?)i?B?\s*", str(value), re.IGNORECASE)
        if not match:
            self.fail(f"{value!r} is not a size; write e.g. 10M, 512K or 1000000.", param, ctx)
        return int(match.group(1)) * _UNITS[match.group(2).upper()]


class _Progress:
    """One line per step on a terminal (rewritten in place), else at most one a second."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.label = ""

    def __call__(self, line: str) -> None:
        label = line.split(":", 1)[0]
        now = time.monotonic()
        if self.tty:
            sys.stderr.write(f"\r\x1b[Ksss-emulate pull: {line}")
            sys.stderr.flush()
        elif label != self.label or now - self.last >= 1.0:
            click.echo(f"sss-emulate pull: {line}", err=True)
            self.last = now
        self.label = label

    def done(self) -> None:
        if self.tty:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _fail(message: str, code: int = EXIT_NOT_RUN) -> None:
    click.echo(f"sss-emulate pull: error: {message}", err=True)
    sys.exit(code)


@click.command("pull")
@click.argument("queries", nargs=-1, metavar="QUERY...")
@click.option("--server-url", required=True, envvar="SSS_SERVER_URL", metavar="URL",
              help="Your LinkAhead server, with its context root if any. [SSS_SERVER_URL]")
@click.option("--user", "--username", "username", required=True, envvar="SSS_USERNAME",
              metavar="NAME", help="Who to log in as. [SSS_USERNAME]")
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=str),
              help="Read the password from this file (else SSS_PASSWORD, else a prompt; never "
                   "on the command line).")
@click.option("--cacert", type=click.Path(dir_okay=False, exists=True, path_type=str),
              envvar="SSS_CACERT", help="CA certificate of --server-url. [SSS_CACERT]")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="The seed file to write (server XML, *.xml); file contents go to "
                   "<name>.files/ beside it.")
@click.option("--force", is_flag=True,
              help="Replace an existing output file (and a .files folder an earlier pull made).")
@click.option("--depth", type=click.IntRange(1, 50), default=1, show_default=True,
              help="Reference hops followed from the queried entities; references beyond are "
                   "emptied.")
@click.option("--files", "with_files", is_flag=True,
              help="Also download the contents of File entities (metadata always comes).")
@click.option("--max-file-size", type=ByteSize(), default="10M", show_default=True,
              help="Larger files keep their metadata only.")
@click.option("--max-files-total", type=ByteSize(), default="100M", show_default=True,
              help="Stop downloading contents once this much was written.")
@click.option("--redact", multiple=True, metavar="PROPERTY",
              help="Replace this property's text values with stable placeholders "
                   "(repeatable), e.g. --redact email.")
@click.option("--page-size", type=click.IntRange(1, 10000), default=100, show_default=True,
              help="Entities asked for per request.")
@click.option("--debug", is_flag=True, help="Show the traceback of an internal error.")
def pull_command(queries: tuple[str, ...], server_url: str, username: str,
                 password_file: str | None, cacert: str | None, output: Path, force: bool,
                 depth: int, with_files: bool, max_file_size: int, max_files_total: int,
                 redact: tuple[str, ...], page_size: int, debug: bool) -> None:
    """Write your server's data model, QUERY's entities and what they reference to -o FILE.

    Every RecordType and Property comes along with parents, datatypes, units and
    importances; ids are kept, so scripts that name ids keep working. Load the result with
    --data (run, serve, watch) or the plugin's data files. Only reads: after the login, every
    request is a GET.

    \b
    Example:
      sss-emulate pull --server-url https://linkahead.example.org --user me \\
          --password-file pw "FIND Experiment WITH date > 2025" "FIND Sample" -o seed.xml
      sss-emulate --data seed.xml my_script.py -p0 x
    """
    configure_logging(debug)
    from sss_emulator.cli.compare import read_password
    from sss_emulator.connect.credentials import cleartext_warning
    from sss_emulator.errors import EmulatorError
    from sss_emulator.fidelity.client import ScriptingClient
    from sss_emulator.fidelity.pull import (
        PullError,
        PullOptions,
        SeedWriter,
        ServerSource,
        check_queries,
        pull,
    )

    for text in queries:
        if not text.strip():
            _fail("an empty QUERY; give queries such as \"FIND Sample\".")
    try:
        check_queries(queries)
    except PullError as error:
        _fail(f"{error.message} Nothing was written.")
    options = PullOptions(queries=queries, depth=depth, files=with_files,
                          max_file_bytes=max_file_size, max_total_file_bytes=max_files_total,
                          redact=redact, page_size=page_size)
    writer = SeedWriter(output, force=force)
    progress = _Progress()
    try:
        writer.check()
        client = ScriptingClient(server_url, cacert=cacert, timeout=60)
        warning = cleartext_warning(server_url)
        if warning is not None:  # before the password is read or sent
            click.echo(f"sss-emulate pull: {warning}", err=True)
        password = read_password(password_file, username, server_url)
        client.login(username, password)
        with writer:
            summary = pull(ServerSource(client), writer, options, progress)
            writer.commit()
    except click.UsageError as error:
        progress.done()
        _fail(error.format_message())
    except EmulatorError as error:
        progress.done()
        _fail(f"{error.message} Nothing was written.")
    except KeyboardInterrupt:
        progress.done()
        _fail("interrupted; nothing was written.", 130)
    except OSError as error:
        progress.done()
        _fail(f"cannot write {output}: {error.strerror or error}; nothing was written.")
    except Exception as exc:
        progress.done()
        if debug:
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc}; nothing was written. Rerun with "
              "--debug for the traceback and report it.")
    progress.done()
    parts = [f"{summary.model} model entities", f"{summary.entities} records and files"]
    if with_files:
        parts.append(f"{summary.files} file contents ({summary.file_bytes} bytes)")
    click.echo(f"sss-emulate pull: wrote {output}: {', '.join(parts)}.", err=True)
    if summary.skipped_files:
        click.echo(f"sss-emulate pull: {len(summary.skipped_files)} file(s) over "
                   "--max-file-size/--max-files-total kept their metadata only (first: "
                   f"{summary.skipped_files[0]}).", err=True)
    if summary.emptied_references:
        click.echo(f"sss-emulate pull: {summary.emptied_references} reference(s) past --depth "
                   f"{depth} were emptied; use --depth {depth + 1} to keep them.", err=True)
    if summary.redacted_values:
        click.echo(f"sss-emulate pull: {summary.redacted_values} value(s) of "
                   f"{', '.join(redact)} replaced by placeholders.", err=True)
