"""Watch mode's knobs come from the one settings engine, like every other setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from sss_emulator.errors import ConfigError
from sss_emulator.invocation import RunInvocation
from sss_emulator.watch.config import WatchConfig


def _config(tmp_path: Path, **options: object) -> WatchConfig:
    return WatchConfig.from_invocation(RunInvocation("x.sh", (), dict(options), tmp_path))


def test_option_over_variable_over_pyproject(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.sss-emulator]\ndebounce-ms = 50\n'
                                             'poll = "yes"\n')
    assert (_config(tmp_path).debounce_s, _config(tmp_path).poll) == (0.05, True)
    monkeypatch.setenv("SSS_DEBOUNCE_MS", "70")
    monkeypatch.setenv("SSS_POLL", "off")
    assert (_config(tmp_path).debounce_s, _config(tmp_path).poll) == (0.07, False)
    assert _config(tmp_path, debounce_ms="90", poll=True).debounce_s == 0.09


def test_a_broken_pyproject_does_not_stop_watch_mode_from_starting(tmp_path: Path) -> None:
    """Each run reports the broken file; the knobs fall back to options, SSS_* and defaults."""
    (tmp_path / "pyproject.toml").write_text("[tool.sss-emulator\n")
    assert _config(tmp_path, poll=True) == WatchConfig(poll=True)


def test_a_bad_variable_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSS_DEBOUNCE_MS", "0")
    with pytest.raises(ConfigError, match="SSS_DEBOUNCE_MS: 0 is out of range"):
        _config(tmp_path)
