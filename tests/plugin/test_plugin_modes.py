"""Run modes through pytester: in-process with fp and monkeypatch, parity, timeouts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

NOTIFY_PY = """\
#!/usr/bin/env python3
import subprocess
import sys

import notify_config

message = f"To: {notify_config.RECIPIENT}\\nSubject: done\\n\\nfinished {sys.argv[-1]}\\n"
proc = subprocess.run(["sendmail", "-t"], input=message.encode(), capture_output=True)
print("sendmail exit", proc.returncode)
sys.exit(proc.returncode)
"""


def test_inprocess_scripts_see_fp_and_monkeypatch(pytester: pytest.Pytester,
                                                  write_bin: Callable[..., Path]) -> None:
    write_bin(**{"notify.py": NOTIFY_PY, "notify_config.py": "RECIPIENT = 'curator@x'\n"})
    pytester.makeini("[pytest]\nsss_bin_dirs = bin\nsss_mode = inprocess\n")
    pytester.makepyfile(
        """
        import pytest

        def test_sendmail_is_faked(sss, fp, monkeypatch):
            import notify_config
            monkeypatch.setattr(notify_config, "RECIPIENT", "tester@example.org")
            fp.register(["sendmail", "-t"], returncode=0)
            res = sss.run_server_side_script("notify.py", "job-7")
            assert res.code == 0, res.stderr
            assert res.stdout == "sendmail exit 0\\n"
            assert fp.call_count(["sendmail", "-t"]) == 1
            mail = fp.calls[0]
            assert list(mail) == ["sendmail", "-t"]

        def test_sendmail_failure(sss, fp):
            fp.register(["sendmail", "-t"], returncode=75)
            assert sss.run_server_side_script("notify.py", "x").code == 75

        @pytest.mark.sss(mode="inprocess", bin_dirs=["bin"])
        def test_bash_runs_as_subprocess(sss, write_bash, fp):
            assert sss.run_server_side_script("hello.sh").stdout == "hi\\n"
            assert sss.log.entries[-1].startswith("[subprocess]")
        """
    )
    pytester.makeconftest(
        """
        import pytest, sys
        sys.path.insert(0, "bin")

        @pytest.fixture
        def write_bash():
            import pathlib
            p = pathlib.Path("bin/hello.sh")
            p.write_text("#!/bin/bash\\necho hi\\n")
            p.chmod(0o755)
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=3)


def test_subprocess_mode_is_never_faked_by_fp(pytester: pytest.Pytester,
                                             write_bin: Callable[..., Path]) -> None:
    """fp fakes what an in-process script starts; a real process (and its children) stays real."""
    write_bin(**{"echo_child.py": "#!/usr/bin/env python3\nimport subprocess\n"
                                  "subprocess.run(['echo', 'real'])\n"})
    pytester.makeini("[pytest]\nsss_bin_dirs = bin\n")
    pytester.makepyfile(
        """
        import pytest

        def test_real(sss, fp):
            fp.register(["echo", "real"], stdout="fake")
            res = sss.run_server_side_script("echo_child.py")
            assert res.stdout == "real\\n" and fp.call_count(["echo", "real"]) == 0

        @pytest.mark.sss(mode="inprocess")
        def test_faked(sss, fp):
            fp.register(["echo", "real"], stdout="fake")
            sss.run_server_side_script("echo_child.py")
            assert fp.call_count(["echo", "real"]) == 1
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_both_mode_passes_when_runs_agree_and_shows_a_diff_when_not(
        pytester: pytest.Pytester, write_bin: Callable[..., Path]) -> None:
    write_bin(**{
        "same.py": "#!/usr/bin/env python3\nimport os, sys\n"
                   "print('shared at', os.environ['SHARED_DIR'])\n"
                   "open(os.path.join(os.environ['SHARED_DIR'], 'r.txt'), 'w').write('r')\n"
                   "sys.exit(2)\n",
        "differs.py": "#!/usr/bin/env python3\nimport os, sys\n"
                      "inside = 'pytest' in sys.modules\n"
                      "print('line one')\nprint('in pytest' if inside else 'alone')\n"
                      "if inside:\n"
                      "    open(os.path.join(os.environ['SHARED_DIR'], 'extra.txt'), 'w')\n",
    })
    pytester.makeini("[pytest]\nsss_bin_dirs = bin\nsss_mode = both\n")
    pytester.makepyfile(
        """
        def test_same(sss):
            res = sss.run_server_side_script("same.py")
            assert res.code == 2 and len(sss.outcomes) == 2
            assert res.argv[0].endswith("same.py")

        def test_differs(sss):
            sss.run_server_side_script("differs.py")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "E   *ParityError: the subprocess and inprocess runs of 'differs.py' differ:",
        "E *--- stdout (subprocess)",
        "E *+++ stdout (inprocess)",
        "E *line one",
        "E *-alone",
        "E *+in pytest",
        "E *shared file 'extra.txt' exists only in the inprocess run",
    ])


def test_a_hanging_script_fails_its_test_in_either_mode(pytester: pytest.Pytester,
                                                        write_bin: Callable[..., Path]) -> None:
    write_bin(**{"hang.sh": "#!/bin/bash\necho waiting\nsleep 30\n",
                 "hang.py": "#!/usr/bin/env python3\nimport time\ntime.sleep(30)\n"})
    pytester.makeini("[pytest]\nsss_bin_dirs = bin\n")
    pytester.makepyfile(
        """
        import pytest

        def test_hangs(sss):
            sss.run_server_side_script("hang.sh")

        @pytest.mark.sss(mode="inprocess", timeout=0.5)
        def test_hangs_inprocess(sss):
            sss.run_server_side_script("hang.py")

        def test_expects_it(sss):
            with pytest.raises(sss.errors.ScriptTimeout) as info:
                sss.run_server_side_script("hang.sh")
            assert info.value.outcome.timed_out and info.value.outcome.stdout == "waiting\\n"
        """
    )
    result = pytester.runpytest("--sss-timeout=0.5")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["E *ScriptTimeout: Script 'hang.sh' did not finish within 0.5 s*",
                                 "code:       timed out"])
