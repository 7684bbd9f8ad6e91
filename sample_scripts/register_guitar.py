#!/usr/bin/env python3
"""Register a guitar from a web form: insert a Record, mail a note, offer a receipt to download.

Called as ``register_guitar.py --auth-token=… .upload_files/form.json``; form.json holds
``name``, ``price`` and ``manufacturer`` (the name of an existing Manufacturer record), and
optionally ``notify`` (an e-mail address).
"""
import json
import logging
import sys

import linkahead as la
from caosadvancedtools.serverside import helper
from caosadvancedtools.serverside.logging import configure_server_side_logging
from linkahead.utils.email import send_email

LOGGER_NAME = "register_guitar"
logger = logging.getLogger(LOGGER_NAME)


def main() -> int:
    configure_server_side_logging(LOGGER_NAME)
    args = helper.get_argument_parser().parse_args()
    la.configure_connection(auth_token=args.auth_token)
    form = helper.get_data(args.filename)
    maker = la.execute_query(f'FIND RECORD Manufacturer WITH name="{form["manufacturer"]}"')
    if len(maker) != 1:
        logger.error("There is no manufacturer named %s.", form["manufacturer"])
        return 1
    guitar = la.Record(name=form["name"]).add_parent("Guitar")
    guitar.add_property(name="price", value=float(form["price"]))
    guitar.add_property(name="Manufacturer", value=maker[0].id)
    guitar.insert()
    display_path, internal_path = helper.get_shared_filename("receipt.json")
    with open(internal_path, "w", encoding="utf-8") as receipt:
        json.dump({"id": guitar.id, "name": guitar.name, "price": form["price"]}, receipt)
    if form.get("notify"):
        send_email(from_address="scripts@example.com", to=form["notify"],
                   subject=f"New guitar: {guitar.name}",
                   message=f"{guitar.name} was registered with id {guitar.id}.")
    logger.info('Registered %s (id %s). <a href="/Shared/%s">Receipt</a>',
                guitar.name, guitar.id, display_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
