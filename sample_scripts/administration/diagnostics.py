#!/usr/bin/env python3
"""Report how the server ran this script, as JSON: arguments, directories, environment.

Modelled on the server's own administration/diagnostics.py: useful to check an installation
and to see exactly what a script receives. The auth token is reported as present, never printed.
"""
import json
import os
import platform
import sys


def listing(folder: str) -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            found.append(os.path.relpath(os.path.join(root, name), folder))
    return found


def main() -> int:
    args = sys.argv[1:]
    token_given = bool(args) and args[0].startswith("--auth-token=")
    user_args = args[1:] if token_given else args
    report = {
        "python": {"version": platform.python_version(), "executable": sys.executable},
        "argv0": sys.argv[0],
        "auth_token": "present" if token_given else "absent",
        "arguments": user_args,
        "cwd": os.getcwd(),
        "HOME": os.environ.get("HOME"),
        "SHARED_DIR": os.environ.get("SHARED_DIR"),
        "cwd_is_home": os.path.realpath(os.getcwd())
        == os.path.realpath(os.environ.get("HOME", "")),
        "working_dir": listing(os.getcwd()),
        "stdin_is_devnull": os.path.realpath("/proc/self/fd/0") == "/dev/null",
    }
    json.dump(report, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
