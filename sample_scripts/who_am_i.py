#!/usr/bin/env python3
"""Ask the server who we are and what it holds, with the token the server passed us.

The tutorial's point about ``Info``: with an auth token, ``get_username()`` does not know the
user, but the ``Info`` resource does.
"""
import argparse
import sys

import linkahead as la


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--auth-token", required=True)
    args = parser.parse_args()
    la.configure_connection(auth_token=args.auth_token)
    user = la.Info().user_info
    print(f"user: {user.name} (realm {user.realm}, roles {', '.join(user.roles)})")
    print(f"records: {la.execute_query('COUNT RECORD')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
