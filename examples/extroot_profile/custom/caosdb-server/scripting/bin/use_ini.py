#!/usr/bin/env python3
"""Trusts what its home ini says (url and cacert), as most deployed scripts do."""
import argparse

import linkahead as db

parser = argparse.ArgumentParser()
parser.add_argument("--auth-token")
args = parser.parse_args()
db.configure_connection(auth_token=args.auth_token, password_method="auth_token")
connection = db.get_config()["Connection"]
print("url:", connection["url"])
print("records:", db.execute_query("COUNT Record"))
