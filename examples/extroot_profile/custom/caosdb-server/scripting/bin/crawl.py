#!/usr/bin/env python3
"""Stores a file, then reads it from the server's file store, as caosadvancedtools' crawler does
(fileguide.access: "/opt/caosdb/mnt/caosroot" + path when run as a server-side script)."""
import argparse
import os
import tempfile

import linkahead as db

CAOSROOT = "/opt/caosdb/mnt/caosroot"

parser = argparse.ArgumentParser()
parser.add_argument("--auth-token")
args = parser.parse_args()
db.configure_connection(auth_token=args.auth_token, password_method="auth_token")
source = os.path.join(tempfile.mkdtemp(), "info.yaml")
with open(source, "w", encoding="utf-8") as out:
    out.write("sample: S-1\nresult: 42\n")
stored = db.File(path="/Analyses/2024-01-01_001/info.yaml", file=source).insert()
with open(CAOSROOT + stored.path, encoding="utf-8") as info:
    print("crawled:", info.read().strip().replace("\n", "; "))
