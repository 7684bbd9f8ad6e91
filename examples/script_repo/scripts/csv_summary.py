#!/usr/bin/env python3
"""Summarise an uploaded CSV table into a downloadable summary.json (caosadvancedtools helpers)."""
import csv
import json
import sys

from caosadvancedtools.serverside import helper


def main() -> int:
    args = helper.get_argument_parser().parse_args()
    with open(args.filename, newline="", encoding="utf-8") as table:
        rows = list(csv.DictReader(table))
    if not rows:
        print("the table is empty", file=sys.stderr)
        return 1
    summary = {"rows": len(rows), "columns": list(rows[0])}
    display_path, internal_path = helper.get_shared_filename("summary.json")
    with open(internal_path, "w", encoding="utf-8") as out:
        json.dump(summary, out, sort_keys=True)
    print(f'<a href="/Shared/{display_path}">summary.json</a>')
    return 0


if __name__ == "__main__":
    sys.exit(main())
