"""What a newcomer's mistake should have been: the fix, named in the one line that reports it.

Only imported when an error is being reported (a successful run never loads this module or
``difflib``): a mistyped script path or call, a command's name mistyped into the script's
place, the server's ``--name=value`` spelling of a script option. The functions are pure but
for :func:`script_not_found`, which lists the folders the user pointed at to find what they
meant.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ("COMMANDS", "closest", "refused_token", "script_not_found", "unknown_option")

#: The commands a mistyped first word may have meant: ``cli.program.COMMANDS`` without
#: ``run`` (repeated here, checked by a test, so that this module imports nothing of the CLI).
COMMANDS = ("list", "doctor", "serve", "watch", "compare", "record", "replay", "pull")

#: How alike a typed word and a suggestion must be (difflib's ratio): ``minmal`` → ``minimal``,
#: ``serv`` → ``serve``, never ``--option2`` → ``--postpone``.
CUTOFF = 0.75
#: Folder entries looked at for a suggestion (a huge folder is not listed in full).
_MAX_ENTRIES = 2000


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The one choice most like ``word``, if it is alike enough and not ``word`` itself."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=CUTOFF)
    return found[0] if found and found[0] != word else None


def unknown_option(name: str, value: str | None, ours: Sequence[str], *,
                   after_script: bool) -> str:
    """The usage error for ``name`` (``--option2``), which is no option of sss-emulate.

    A close option of ours comes first (``--tmeout`` → ``--timeout``). Otherwise, typed after
    SCRIPT, it is most likely the script's option in the server's spelling (the ``call`` string
    shows ``--option2=x``): say how a script option is written (``-Ooption2=x``).
    """
    near = closest(name, ours)
    stem = name.lstrip("-")
    as_script = f"-O{stem}={value if value is not None else 'VALUE'}"
    if near:
        return f"no such option {name} (did you mean {near}?)"
    if after_script and stem:
        return (f"no such option {name}; to pass it to the script write {as_script} (script "
                "options are -Oname=VALUE, positionals -p0 VALUE)")
    return f"no such option {name}; script arguments are -p0 VALUE or -Oname=VALUE"


def _entries(folder: Path) -> list[str]:
    try:
        with os.scandir(folder) as it:
            names = []
            for entry in it:
                names.append(entry.name)
                if len(names) >= _MAX_ENTRIES:
                    break
            return names
    except OSError:
        return []


def _scripts_in(folder: Path) -> list[str]:
    """The executable files directly in ``folder``, sorted (a folder given as SCRIPT)."""
    found = []
    for name in sorted(_entries(folder)):
        path = folder / name
        if path.is_file() and os.access(path, os.X_OK):
            found.append(name)
    return found


def _calls_in(bin_dirs: Sequence[Path]) -> list[str]:
    """Every call the bin dirs offer (what ``sss-emulate list`` prints)."""
    from sss_emulator.core.scripts import ResolvedScript, iter_scripts

    calls = []
    for item in iter_scripts(bin_dirs):
        calls.append(item.call if isinstance(item, ResolvedScript) else item[0])
        if len(calls) >= _MAX_ENTRIES:
            break
    return calls


def _typed_join(script: str, name: str) -> str:
    """``name`` in the folder the user typed (``scripts/minmal.bash`` → ``scripts/NAME``)."""
    head, sep, _ = script.rstrip("/").rpartition("/")
    return f"{head}{sep}{name}"


def script_not_found(script: str, cwd: Path, bin_dirs: Sequence[Path] | None,
                     commands: Sequence[str]) -> str | None:
    """One line for a SCRIPT that names nothing runnable, or None to keep the usual message.

    ``bin_dirs`` None: no bin dir is configured and SCRIPT is a path (relative to ``cwd``);
    else SCRIPT was looked up in those bin dirs as a call.
    """
    path = cwd / script
    command = closest(script, commands) if "/" not in script else None
    command_hint = f"; did you mean the command 'sss-emulate {command}'?" if command else ""
    if bin_dirs is None:
        if path.is_dir():
            return (f"{script} is a folder, not a script; give the path of a script in it"
                    f"{_example(script, path)}, or use it as the bin dir: --bin-dir {script} "
                    "CALL")
        parent = path.parent
        if not parent.is_dir():
            shown = os.path.dirname(script.rstrip("/")) or "."
            return f"there is no file {script}: no folder {shown}{command_hint}"
        near = closest(path.name, _entries(parent))
        if near is not None:
            return f"there is no file {script}; did you mean {_typed_join(script, near)}?"
        return f"there is no file {script}" + (command_hint or (
            "; SCRIPT is the path of a script file (or a call, with --bin-dir or --profile)"))
    if script.startswith("/") or any(part in ("", ".", "..") for part in script.split("/")):
        return None  # no plain call: the refusal says what a call may be
    searched = ", ".join(str(b) for b in bin_dirs)
    folder = next((b / script for b in bin_dirs if script and (b / script).is_dir()), None)
    if folder is not None:
        return (f"{script} is a folder in the bin dir {folder.parent}, not a script; give the "
                f"call of a script{_example(script, folder)}")
    near = closest(script, _calls_in(bin_dirs))
    if near is not None:
        return f"no script {script} in the bin dirs {searched}; did you mean {near}?"
    if command_hint:
        return f"no script {script} in the bin dirs {searched}{command_hint}"
    return None


def _example(script: str, folder: Path) -> str:
    inside = _scripts_in(folder)
    if not inside:
        return " (it holds no executable file)"
    return f" (e.g. {_typed_join(script.rstrip('/') + '/x', inside[0])})"


#: A script's argument parser refusing the token (argparse, click 8.1/8.2, getopt), one line.
_TOKEN_REFUSED = re.compile(rb"(unrecognized arguments|no such option|unknown option|"
                            rb"unrecognized option|illegal option|invalid option)[^\n]*"
                            rb"--auth-token", re.I)


def refused_token(stderr: bytes) -> str | None:
    """The note for a script that failed because it does not take ``--auth-token=…``: the
    most common deployment mistake, and the script's own message does not say the fix."""
    if _TOKEN_REFUSED.search(stderr[-65536:]) is None:
        return None
    return ("the script refused --auth-token=…, which the server always passes first; add "
            "it to its argument parser (e.g. parser.add_argument('--auth-token'), or "
            "caosadvancedtools' helper.get_argument_parser())")
