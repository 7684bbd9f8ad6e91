#!/usr/bin/env python3
"""Tell the curator that a job finished, by mail through caosadvancedtools' send_mail.

In caosadvancedtools 0.17 ``helper.send_mail`` is a deprecated wrapper of linkahead's
``send_email``, which talks SMTP to the server named in ``[Email]`` of pylinkahead.ini (it no
longer starts a ``sendmail`` program).
"""
import argparse
import sys

from caosadvancedtools.serverside import helper


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--auth-token")
    parser.add_argument("--to", required=True)
    parser.add_argument("job")
    args = parser.parse_args()
    helper.send_mail(from_addr="scripts@example.org", to=args.to,
                     subject=f"Job {args.job} finished",
                     body=f"The job {args.job} has finished.\n")
    print(f"notified {args.to}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
