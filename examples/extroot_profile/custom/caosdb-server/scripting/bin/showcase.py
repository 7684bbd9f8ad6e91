#!/usr/bin/env python3
"""Names the server itself, as the demo's showcase.py does: https://127.0.0.1:10443."""
import argparse

import linkahead as db

parser = argparse.ArgumentParser()
parser.add_argument("--auth-token")
args = parser.parse_args()
db.configure_connection(url="https://127.0.0.1:10443", ssl_insecure=True,
                        auth_token=args.auth_token, password_method="auth_token")
print("records:", db.execute_query("COUNT Record"))
