#!/usr/bin/env python3
"""Mail the curator through the local ``sendmail`` program, as older server scripts do."""
import subprocess
import sys

RECIPIENT = "curator@example.org"


def main() -> int:
    job = sys.argv[-1]
    message = f"To: {RECIPIENT}\nSubject: Job {job} finished\n\nThe job {job} has finished.\n"
    proc = subprocess.run(["sendmail", "-t", "-oi"], input=message.encode(), check=False)
    if proc.returncode != 0:
        print(f"sendmail failed with exit code {proc.returncode}", file=sys.stderr)
        return 1
    print(f"notified {RECIPIENT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
