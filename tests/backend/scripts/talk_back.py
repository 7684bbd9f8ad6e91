#!/usr/bin/env python3
"""A server-side script that uses everything a real one uses of its server: run by the tests."""

import argparse
import configparser
import json
import os
import subprocess
import sys
import warnings

warnings.simplefilter("ignore", DeprecationWarning)

import linkahead as db  # noqa: E402
from caosadvancedtools.serverside import helper  # noqa: E402
from linkahead.utils.email import send_email  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--auth-token", required=True)
parser.add_argument("form", help="form.json as the web UI uploads it")
args = parser.parse_args()
db.configure_connection(auth_token=args.auth_token)
out = {}
with open(args.form, encoding="utf-8") as handle:
    form = json.load(handle)

info = db.Info()
out["user"] = [info.user_info.name, info.user_info.realm, info.user_info.roles]
out["find"] = sorted(e.name for e in db.execute_query("FIND Guitar WITH price > 500"))
out["count"] = db.execute_query("COUNT MusicalInstrument")
out["select"] = sorted(
    db.select("SELECT price FROM Guitar WITH electric=TRUE").get_property_values("name", "price")
)
out["references"] = [e.name for e in db.execute_query("FIND Concert WHICH REFERENCES Grand")]
out["referenced_by"] = [
    e.name for e in db.execute_query("FIND Manufacturer WHICH IS REFERENCED BY Grand")
]

prop = db.Property(name="serial", datatype=db.TEXT).insert()
rec = db.Record(name=form["name"]).add_parent("Guitar")
rec.add_property(name="price", value=form["price"]).add_property(name="serial", value="X-1")
rec.insert()
out["inserted"] = rec.id

with open("receipt.txt", "w", encoding="utf-8") as handle:
    handle.write(f"receipt for {rec.name}\n")
receipt = db.File(path=f"/receipts/{rec.id}.txt", file="receipt.txt").add_parent("Concert").insert()
rec.get_property("price").value = form["price"] + 1
rec.update()
again = db.Record(id=rec.id).retrieve()
out["updated_price"] = again.get_property("price").value

downloaded = db.File(id=receipt.id).retrieve().download("copy.txt")
with open(downloaded, encoding="utf-8") as handle:
    out["download"] = handle.read()

doomed = db.Record(name="Doomed").add_parent("Guitar").add_property(name="price", value=1).insert()
doomed.delete()
out["deleted"] = doomed.is_deleted()

send_email(
    "The guitar was inserted.",
    to="bob@example.org",
    from_address="sss@example.org",
    subject="new guitar",
    cc="carol@example.org",
)
helper.send_mail("sss@example.org", "dave@example.org", "helper mail", "via caosadvancedtools")

ini = configparser.ConfigParser()
ini.read(os.path.expanduser("~/.pylinkahead.ini"))
sendmail = ini["Misc"]["sendmail"]
message = b"From: sss@example.org\nTo: erin@example.org\nSubject: old style\n\nvia sendmail\n"
subprocess.run([sendmail, "-t", "-i", "-f", "sss@example.org"], input=message, check=True)

json.dump(out, sys.stdout)
