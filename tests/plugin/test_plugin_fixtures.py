"""The ``sss``, ``sss_emulator`` and ``sss_factory`` fixtures, run through pytester."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_plugin_is_registered_by_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(request):\n"
                        "    assert request.config.pluginmanager.has_plugin('sss_emulator')\n")
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*sss-emulator*", "*--sss-bin-dir=DIR*", "*--sss-mode=*",
                                 "*sss_bin_dirs (args)*"])
    pytester.runpytest().assert_outcomes(passed=1)


def test_sss_runs_a_script_with_dirs_under_tmp_path(pytester: pytest.Pytester,
                                                    standard_bin: Path) -> None:
    pytester.makeini("[pytest]\nsss_bin_dirs = bin\n")
    pytester.makepyfile(
        """
        def test_minimal(sss, tmp_path):
            res = sss.run_server_side_script("minimal.bash", "Positional0", option2="some-value")
            assert res.code == 0
            assert res.call == "minimal.bash --option2=some-value Positional0"
            assert res.stdout == "minimal.bash --option2=some-value Positional0\\n"
            assert res.shared_dir.is_relative_to(tmp_path)
            assert res.workdir.is_relative_to(tmp_path)
            assert not res.workdir.exists()

        def test_echo(sss_emulator, tmp_path):
            res = sss_emulator.run_server_side_script("echo.py", "a", "b", opt="v")
            assert res.code == 0
            assert "args: --opt=v a b" in res.stdout
            assert "cwd==HOME: True" in res.stdout
            assert res.stderr == "to stderr\\n"
            assert res.shared_files["out.txt"].read_text() == "written\\n"
            assert sss_emulator.last is res
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_sss_errors_are_reachable_on_the_fixture(pytester: pytest.Pytester,
                                                 standard_bin: Path) -> None:
    pytester.makeini("[pytest]\nsss_bin_dirs = bin\n")
    pytester.makepyfile(
        """
        import pytest
        from sss_emulator.errors import PermissionDenied, ScriptNotFound

        @pytest.mark.sss(user="alice", roles=["team"])
        def test_forbidden(sss):
            with pytest.raises(sss.errors.PermissionDenied) as info:
                sss.run_server_side_script("echo.py")
            assert info.value.http_status == 403
            assert sss.errors.PermissionDenied is PermissionDenied

        def test_unknown(sss):
            with pytest.raises(ScriptNotFound, match="'nope.py' not found"):
                sss.run_server_side_script("nope.py")
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_unknown_script_fails_with_one_clear_line(pytester: pytest.Pytester,
                                                  standard_bin: Path) -> None:
    pytester.makeini("[pytest]\nsss_bin_dirs = bin\n")
    pytester.makepyfile("def test_unknown(sss):\n    sss.run_server_side_script('nope.py')\n")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E *ScriptNotFound: Script 'nope.py' not found in*sss_bin_dirs*"])
    result.stdout.no_fnmatch_line("*sss_emulator/emulator.py*")
    result.stdout.no_fnmatch_line("*scripts.py*")


def test_no_bin_dirs_names_the_settings_to_use(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(sss):\n    sss.run_server_side_script('a.py')\n")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no bin dirs are configured; set sss_bin_dirs*--sss-bin-dir*"])


def test_sss_factory_builds_emulators_with_other_settings(pytester: pytest.Pytester,
                                                          standard_bin: Path) -> None:
    pytester.makeini("[pytest]\nsss_bin_dirs = bin\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture(scope="session")
        def alice(sss_factory):
            return sss_factory(user="alice", roles=["team"], timeout=5)

        def test_alice_is_refused(alice):
            assert alice.identity.name == "alice"
            assert alice.timeout == 5
            with pytest.raises(alice.errors.PermissionDenied):
                alice.run_server_side_script("echo.py")

        def test_fresh_dirs_per_emulator(sss_factory):
            one, two = sss_factory(), sss_factory(mode="inprocess")
            assert one.work_root != two.work_root
            assert two.mode == "inprocess"
            assert two.run_server_side_script("echo.py", "x").code == 0

        def test_bad_factory_argument(sss_factory):
            with pytest.raises(Exception, match=r"sss_factory.*unknown argument.* usr"):
                sss_factory(usr="alice")
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_session_factory_emulators_are_reported_too(pytester: pytest.Pytester,
                                                    standard_bin: Path) -> None:
    pytester.makeini("[pytest]\nsss_bin_dirs = bin\n")
    pytester.makepyfile(
        """
        def test_x(sss_factory):
            res = sss_factory().run_server_side_script("echo.py", "zzz")
            assert res.code == 3
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*- sss-emulator runs -*", "call:       echo.py zzz",
                                 "args: zzz"])


def test_sss_server_comes_with_the_plugin(pytester: pytest.Pytester, standard_bin: Path) -> None:
    """No ``pytest_plugins`` line needed: the entry point brings the live-server fixture too."""
    pytester.makeconftest(
        "import pytest\n\n@pytest.fixture\ndef sss_server_options():\n"
        f"    return {{'bin_dirs': ({str(standard_bin)!r},)}}\n"
    )
    pytester.makepyfile(
        """
        def test_serves(sss_server):
            assert sss_server.url.startswith("http://127.0.0.1:")
            assert sss_server.history is not None
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
