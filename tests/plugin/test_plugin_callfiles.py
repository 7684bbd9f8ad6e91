"""Call files (``sss_*.yaml``/``sss_*.toml``) collected as test items."""

from __future__ import annotations

from pathlib import Path

import pytest

GOOD_YAML = """
bin_dirs: [bin]
tests:
  - name: minimal prints its call
    call: minimal.bash
    positionals: [Positional0]
    options: {option2: some-value}
    expect:
      stdout_exact: "minimal.bash --option2=some-value Positional0\\n"
  - name: echo with an upload
    call: echo.py
    uploads: {"-p0": data/in.txt}
    expect:
      stdout: ["args: .upload_files/in.txt", "re:cwd==HOME: (True|False)"]
      stderr: to stderr
      shared_files: {out.txt: "written\\n"}
  - name: alice is refused
    call: echo.py
    user: alice
    roles: [team]
    expect: {error: PermissionDenied}
  - name: exit code
    call: echo.py
    env: {ECHO_EXIT: "4"}
    mode: inprocess
    expect: {code: 4, shared_files: [out.txt]}
"""

GOOD_TOML = """
bin_dirs = ["bin"]

[[tests]]
name = "toml case"
call = "minimal.bash"
positionals = ["a", 1]
expect = { code = 0, stdout = "minimal.bash a 1" }
"""


@pytest.fixture
def repo(pytester: pytest.Pytester, standard_bin: Path) -> Path:
    (pytester.path / "data").mkdir()
    (pytester.path / "data" / "in.txt").write_text("input\n")
    return pytester.path


def test_yaml_and_toml_cases_are_collected_and_pass(pytester: pytest.Pytester,
                                                    repo: Path) -> None:
    pytester.makefile(".yaml", sss_examples=GOOD_YAML)
    pytester.makefile(".toml", sss_more=GOOD_TOML)
    pytester.makefile(".yaml", other="not: collected\n")
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["sss_examples.yaml::minimal prints its call PASSED*",
                                 "sss_more.toml::toml case PASSED*"])


def test_a_mismatch_reports_readable_differences(pytester: pytest.Pytester, repo: Path) -> None:
    pytester.makefile(".yaml", sss_wrong="""
        bin_dirs: [bin]
        tests:
          - name: wrong
            call: echo.py
            positionals: [x]
            expect:
              code: 1
              stdout: [nothing-like-this, "re:^args: y$"]
              shared_files: {out.txt: "other\\n", missing.txt: true}
          - name: wrong exact
            call: minimal.bash
            expect: {stdout_exact: "minimal.bash\\nsecond line\\n"}
          - name: not refused
            call: echo.py
            expect: {error: PermissionDenied}
    """)
    result = pytester.runpytest()
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines([
        "sss_wrong.yaml::wrong (echo.py): the run did not match",
        "  code: expected 1, got 0",
        "  stdout: does not contain 'nothing-like-this'",
        "  stdout: no match for regular expression '^args: y$'",
        "  shared file 'out.txt' differs:",
        "  --- expected out.txt",
        "  +++ actual out.txt",
        "  -other",
        "  +written",
        "  shared file 'missing.txt' missing; SHARED_DIR has: out.txt",
    ])
    result.stdout.fnmatch_lines(["*stdout: differs from stdout_exact:", "  -second line"])
    result.stdout.fnmatch_lines(["*expected the call to be refused with PermissionDenied, "
                                 "but it ran (code 0)"])
    result.stdout.fnmatch_lines(["*- sss-emulator runs -*", "call:       echo.py x"])


MALFORMED = [
    ("yaml", "tests: [{call: a.py, expct: {}}]",
     "*sss_bad0.yaml case 1: unknown key(s) expct; known: name, call,*"),
    ("yaml", "call: a.py\nexpect: {code: zero}",
     "*sss_bad1.yaml: expect.code must be a whole number, not 'zero'"),
    ("yaml", "call: [a", "*sss_bad2.yaml:1: not valid YAML*; fix the file."),
    ("toml", "call = ", "*sss_bad3.toml: not valid TOML*"),
    ("yaml", "", "*sss_bad4.yaml: the file is empty*"),
    ("yaml", "positionals: [a]", "*sss_bad5.yaml: 'call' must name the script*"),
    ("yaml", "call: a.py\nuploads: {-p0: nope.txt}",
     "*sss_bad6.yaml: upload -p0 = 'nope.txt': */nope.txt is not a file"),
    ("yaml", "call: a.py\nexpect: {stdout: 're:('}",
     "*sss_bad7.yaml: expect.stdout 're:(' is not a valid regular expression*"),
    ("yaml", "call: a.py\nexpect: {error: Nope}",
     "*sss_bad8.yaml: expect.error 'Nope' is not one of BadRequestForm,*"),
    ("yaml", "tests: [{call: a.py}, {call: a.py}]",
     "*sss_bad9.yaml: case name(s) 'a.py' used twice*"),
    ("yaml", "- call: a.py", "*sss_bad10.yaml: expected a mapping*"),
]


def test_a_malformed_call_file_is_one_error_naming_it(pytester: pytest.Pytester) -> None:
    for index, (suffix, text, _) in enumerate(MALFORMED):
        (pytester.path / f"sss_bad{index}.{suffix}").write_text(text)
    result = pytester.runpytest("--continue-on-collection-errors")
    result.assert_outcomes(errors=len(MALFORMED))
    for _, _, message in MALFORMED:
        result.stdout.fnmatch_lines([message])
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*callfile.py*")


def test_bad_settings_in_a_case_fail_that_case_only(pytester: pytest.Pytester,
                                                    repo: Path) -> None:
    pytester.makefile(".yaml", sss_cases="""
        bin_dirs: [bin]
        tests:
          - {name: ok, call: minimal.bash}
          - {name: bad mode, call: minimal.bash, mode: fork}
          - {name: unknown, call: gone.sh}
    """)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        ["*sss_cases.yaml case 'bad mode' mode=: mode 'fork' is not one of*"])
    result.stdout.fnmatch_lines(["*the call was refused (expected it to run): ScriptNotFound*"])


def test_a_hostile_case_name_is_shown_escaped_on_the_terminal(pytester: pytest.Pytester,
                                                              repo: Path) -> None:
    """A recorded case is named for its call, which a client of `record` chose (a C1 CSI and a
    right-to-left override survive the server's XML): pytest shows the name, and the call in
    a failure's header, as text on the user's terminal, on one line."""
    import os
    import sys

    from terminal_support import in_terminal, raw_controls

    pytester.makefile(".yaml", sss_hostile=(
        'bin_dirs: [bin]\ntests:\n  - name: "evil\\u009b2J\\u202e\\e]0;pwned\\a\\nPASSED"\n'
        '    call: minimal.bash\n    positionals: ["\\u009b"]\n    expect: {code: 1}\n'))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSS_")}
    shown = in_terminal([sys.executable, "-m", "pytest", "-v", "--color=no", "-p", "no:randomly",
                         "-p", "no:cacheprovider", "sss_hostile.yaml"], cwd=pytester.path,
                        env=env)
    assert rb"sss_hostile.yaml::evil\x9b2J\u202e\x1b]0;pwned\x07\x0aPASSED FAILED" in shown, shown
    assert rb"sss_hostile.yaml::evil\x9b2J\u202e\x1b]0;pwned\x07\x0aPASSED (minimal.bash)" in shown
    assert rb"call:       minimal.bash \x9b" in shown, shown  # the run log; stdout stays raw
    shown = shown.replace("minimal.bash \u009b\r\n----- stderr".encode(), b"")
    assert raw_controls(shown) == [], shown
