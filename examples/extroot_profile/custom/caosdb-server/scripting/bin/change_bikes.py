#!/usr/bin/env python3
"""Reads the profile's data where the server's container has it, as the demo's change_bikes.py."""
import argparse

import linkahead as db

REPORT = "/opt/caosdb/mnt/extroot/bikes/2021-05-06_qc_report.csv"

parser = argparse.ArgumentParser()
parser.add_argument("--auth-token")
args = parser.parse_args()
db.configure_connection(auth_token=args.auth_token, password_method="auth_token")
with open(REPORT, encoding="utf-8") as report:
    rows = report.read().splitlines()[1:]
print("failed bikes:", ", ".join(r.split(",")[1] for r in rows if r.endswith(",fail")))
report_file = db.File(path="Bikes/2021-05-06_qc_report.csv", file=REPORT).insert()
print("stored as", report_file.path)
