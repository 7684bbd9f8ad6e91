#!/usr/bin/env python3
"""Greet the caller: the smallest useful server-side script (standard library only)."""
import argparse
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--auth-token")
    parser.add_argument("--greeting", default="Hello")
    parser.add_argument("name")
    args = parser.parse_args()
    if not args.name.strip():
        print("name must not be empty", file=sys.stderr)
        return 2
    print(f"{args.greeting}, {args.name}!")
    return 0


if __name__ == "__main__":
    sys.exit(main())
