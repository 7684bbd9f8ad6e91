#!/usr/bin/env python3
"""Summarise an uploaded CSV table, driven by a web form's form.json (the tutorial's pattern).

Called as ``handle_csv.py --auth-token=… .upload_files/form.json`` with the CSV uploaded beside
the form. form.json holds ``myparameter`` (a text) and ``csvfile`` (the CSV's file name). The
summary goes to a downloadable ``output.json`` in SHARED_DIR, and the log is printed as the
Bootstrap alerts the web UI shows.
"""
import csv
import json
import logging
import os
import sys

from caosadvancedtools.serverside import helper
from caosadvancedtools.serverside.logging import configure_server_side_logging

LOGGER_NAME = "handle_csv"
logger = logging.getLogger(LOGGER_NAME)


def summarise(csv_path: str, parameter: str) -> dict:
    with open(csv_path, newline="", encoding="utf-8") as table:
        rows = list(csv.DictReader(table))
    columns = list(rows[0].keys()) if rows else []
    numeric = {}
    for column in columns:
        try:
            values = [float(row[column]) for row in rows]
        except (TypeError, ValueError):
            continue
        numeric[column] = {"min": min(values), "max": max(values), "sum": sum(values)}
    return {"parameter": parameter, "rows": len(rows), "columns": columns, "numeric": numeric}


def main() -> int:
    configure_server_side_logging(LOGGER_NAME)
    args = helper.get_argument_parser().parse_args()
    with open(args.filename, encoding="utf-8") as form_json:
        form = json.load(form_json)
    upload_dir = os.path.dirname(args.filename)
    try:
        csv_path = os.path.join(upload_dir, form["csvfile"])
        result = summarise(csv_path, form["myparameter"])
    except (KeyError, OSError, csv.Error) as exc:
        logger.error("Cannot read the form's CSV table: %s", exc)
        return 1
    display_path, internal_path = helper.get_shared_filename("output.json")
    with open(internal_path, "w", encoding="utf-8") as out:
        json.dump(result, out, indent=2)
    logger.info(
        "Read %d rows. Download the summary: <a href=\"/Shared/%s\">output.json</a>",
        result["rows"], display_path,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
