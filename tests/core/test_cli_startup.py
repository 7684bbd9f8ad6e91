"""A plain CLI run pays only for what it uses: no server, watcher, mail sink, XML or YAML."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = {"werkzeug", "watchdog", "aiosmtpd", "asyncio", "lxml", "yaml", "urllib.request",
         "socket", "email", "logging", "click"}
#: The stand-in's model: built when a script first calls back, not before.
STAND_IN_MODEL = {"sss_emulator.backend.access", "sss_emulator.backend.model",
                  "sss_emulator.backend.store", "sss_emulator.backend.app"}
#: ``secrets`` loads ``hmac``, ``base64`` and ``random`` to hand out ``os.urandom``: random
#: names and keys on the run path read ``os.urandom`` themselves.
UNUSED_STDLIB = {"secrets", "base64"}


def _loaded_by(args: list[str], tmp_path: Path) -> tuple[str, set[str]]:
    """Run ``python -X importtime -m sss_emulator ARGS``; its stdout and every module it loaded."""
    env = {**os.environ, "SSS_WORK_ROOT": str(tmp_path / "w"),
           "SSS_SHARED_ROOT": str(tmp_path / "s")}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "sss_emulator", *args],
                          capture_output=True, text=True, cwd=REPO, env=env, check=True)
    modules = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
               if line.startswith("import time:")}
    return done.stdout, modules


def test_a_bash_run_that_never_calls_back_loads_no_feature(tmp_path: Path) -> None:
    """minimal.bash through the CLI, stand-in on by default: none of the heavy modules."""
    stdout, modules = _loaded_by(["sample_scripts/minimal.bash", "-p0", "x"], tmp_path)
    assert stdout.rstrip().endswith(" x")
    assert modules & (HEAVY | STAND_IN_MODEL | UNUSED_STDLIB) == set()


def test_xml_output_loads_lxml_only_then(tmp_path: Path) -> None:
    """--format xml renders with lxml: the lazy import is there when a feature needs it."""
    stdout, modules = _loaded_by(["sample_scripts/minimal.bash", "-p0", "x", "--format", "xml"],
                                 tmp_path)
    assert stdout.startswith("<?xml") and "lxml.etree" in modules
    assert modules & (HEAVY - {"lxml"}) == set()


@pytest.mark.parametrize(("debug", "shown"), [(False, ["sss-emulate: sss_emulator.x: shown 1"]),
                                               (True, ["sss-emulate: sss_emulator.x: hidden",
                                                       "sss-emulate: sss_emulator.x: shown 1"])])
def test_logging_loads_for_the_first_record_that_can_be_shown(debug: bool,
                                                              shown: list[str]) -> None:
    """A debug record without --debug is dropped without loading logging; a warning loads it,
    in sss-emulate's format."""
    code = ("import sys\nfrom sss_emulator.logs import Logger, configure\n"
            f"configure({debug})\nlog = Logger('sss_emulator.x')\nlog.debug('hidden')\n"
            "print('logging' in sys.modules)\nlog.warning('shown %s', 1)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout == f"{debug}\n"
    assert done.stderr.splitlines() == shown
