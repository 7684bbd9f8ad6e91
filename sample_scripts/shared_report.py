#!/usr/bin/env python3
"""Write a small report into SHARED_DIR and print its download link (get_shared_filename)."""
import sys

from caosadvancedtools.serverside import helper


def main() -> int:
    parser = helper.get_argument_parser()
    parser.add_argument("--title", default="Report")
    args = parser.parse_args()
    display_path, internal_path = helper.get_shared_filename("report.txt")
    with open(args.filename, encoding="utf-8") as source:
        text = source.read()
    with open(internal_path, "w", encoding="utf-8") as out:
        out.write(f"{args.title}\n{'=' * len(args.title)}\n{text}")
    print(f'<a href="/Shared/{display_path}">report.txt</a>')
    return 0


if __name__ == "__main__":
    sys.exit(main())
