#!/usr/bin/env python3
"""Counts guitars, inserts one, mails the result both ways (sendmail found on PATH)."""

import argparse
import shutil
import subprocess
import sys

import linkahead as db
from linkahead.utils.email import send_email

parser = argparse.ArgumentParser()
parser.add_argument("--auth-token")
args = parser.parse_args()
db.configure_connection(auth_token=args.auth_token)
n = db.count("COUNT Guitar")
db.Record(name="Mustang").add_parent("Guitar").add_property(name="price", value=700).insert()
send_email(f"{n} guitars", to="ops@example.org", subject="count")
message = f"To: ops@example.org\nSubject: count again\n\n{n} guitars\n".encode()
subprocess.run(
    [shutil.which("sendmail"), "-t", "-i", "-f", "sss@example.org"], input=message, check=True
)
print(n)
sys.exit(0)
