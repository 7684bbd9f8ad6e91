"""The ini a script gets, the mail it sends, and one real script using it all in a subprocess."""

from __future__ import annotations

import configparser
import json
import os
import smtplib
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest
from backend_helpers import BACKEND_TOKEN, BackendRun

from sss_emulator.backend import (
    MailCollector,
    SmtpSink,
    patch_pylinkahead_ini,
    write_sendmail_program,
)

SCRIPTS = Path(__file__).parent / "scripts"

USER_INI = """\
[Connection]
url = https://real.example.org:443/
cacert = /etc/ssl/la.pem
username = alice
password_method = input
timeout = 30

[Email]
smtp_server = smtp.example.org
smtp_port = 587
smtp_starttls = True
smtp_username = alice
smtp_password = secret
from_address = LinkAhead <la@example.org>

[advancedtools]
test_server = yes

[Misc]
note = 100%% local
"""


def _imports_cleanly(ini: Path) -> subprocess.CompletedProcess[str]:
    """``import linkahead`` validates the ini against pylib's schema."""
    code = (
        "import linkahead, linkahead.configuration as c; print(dict(c.get_config()['Connection']))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYCAOSDBINI",)}
    env["PYLINKAHEADINI"] = str(ini)
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ini.parent,
    )


class TestIni:
    """The patched ini points at the stand-in and keeps everything else."""

    def test_patch_keeps_user_settings_and_validates(self, tmp_path: Path) -> None:
        text = patch_pylinkahead_ini(
            USER_INI,
            "http://127.0.0.1:4711",
            sendmail="/tmp/bin/sendmail",
            smtp=("127.0.0.1", 2525),
        )
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_string(text)
        assert parser["Connection"]["url"] == "http://127.0.0.1:4711"
        assert "cacert" not in parser["Connection"]
        assert parser["Connection"]["username"] == "alice"
        assert parser["Email"]["smtp_server"] == "127.0.0.1"
        assert parser["Email"]["smtp_port"] == "2525"
        assert "smtp_password" not in parser["Email"] and "smtp_starttls" not in parser["Email"]
        assert parser["Email"]["from_address"] == "LinkAhead <la@example.org>"
        assert parser["advancedtools"]["test_server"] == "yes"
        assert parser["Misc"]["sendmail"] == "/tmp/bin/sendmail"
        assert parser["Misc"]["note"] == "100%% local"  # pylib's interpolation still sees it
        ini = tmp_path / "pylinkahead.ini"
        ini.write_text(text, encoding="utf-8")
        result = _imports_cleanly(ini)
        assert result.returncode == 0, result.stderr
        assert "http://127.0.0.1:4711" in result.stdout

    @pytest.mark.parametrize(
        ("url", "cacert"),
        [("http://127.0.0.1:1/ctx/", None), ("https://la.example.org", "/ca.pem")],
    )
    def test_patch_from_nothing_validates(
        self, tmp_path: Path, url: str, cacert: str | None
    ) -> None:
        ini = tmp_path / "pylinkahead.ini"
        ini.write_text(patch_pylinkahead_ini(None, url, cacert=cacert), encoding="utf-8")
        result = _imports_cleanly(ini)
        assert result.returncode == 0, result.stderr
        parser = configparser.ConfigParser()
        parser.read(ini)
        assert parser.get("Connection", "cacert", fallback=None) == cacert


def test_patch_refuses_an_ini_pylib_could_not_read() -> None:
    """A broken user ini is reported, not silently rewritten."""
    with pytest.raises(ValueError, match="does not parse"):
        patch_pylinkahead_ini("[Connection]\nurl = a\nurl = b\n", "http://127.0.0.1:1")


class TestMail:
    """Mail sent either way lands in the spool and reads back with its headers."""

    def test_sendmail_program(self, tmp_path: Path) -> None:
        collector = MailCollector(tmp_path / "spool")
        program = write_sendmail_program(tmp_path / "bin", collector.spool_dir)
        assert os.access(program, os.X_OK)
        message = (
            "From: Script <sss@example.org>\nTo: a@example.org, B <b@example.org>\n"
            "Cc: c@example.org\nSubject: Report ü\nContent-Type: text/plain; charset=utf-8\n\n"
            "All done ü.\n"
        )
        subprocess.run(
            [
                str(program),
                "-t",
                "-i",
                "-F",
                "Script",
                "-f",
                "sss@example.org",
                "extra@example.org",
            ],
            input=message.encode("utf-8"),
            check=True,
            timeout=30,
        )
        (mail,) = collector.mails
        assert mail.via == "sendmail"
        assert mail.from_addr == "Script <sss@example.org>"
        assert mail.to == ["a@example.org", "b@example.org"]
        assert mail.cc == ["c@example.org"]
        assert mail.subject == "Report ü"
        assert mail.body.strip() == "All done ü."
        assert mail.headers["Subject"] == "Report ü"
        assert mail.bcc == ["extra@example.org"]  # an envelope recipient the headers do not name

    def test_smtp_sink(self, tmp_path: Path) -> None:
        collector = MailCollector(tmp_path / "spool")
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "x@example.org", "y@example.org", "hi"
        message.set_content("hello there")
        with SmtpSink(collector) as sink:
            assert sink.host == "127.0.0.1" and sink.port > 0
            with smtplib.SMTP(sink.host, sink.port, timeout=10) as smtp:
                smtp.send_message(message, to_addrs=["y@example.org", "hidden@example.org"])
        (mail,) = collector.mails
        assert (mail.via, mail.subject, mail.to) == ("smtp", "hi", ["y@example.org"])
        assert mail.bcc == ["hidden@example.org"]
        assert mail.body.strip() == "hello there"
        collector.clear()
        assert collector.mails == []


def test_real_script_talks_back(backend_run: BackendRun, tmp_path: Path) -> None:
    """A script run as the server runs it uses pylib and caosadvancedtools against the stand-in."""
    home = tmp_path / "home"
    home.mkdir()
    collector = MailCollector(tmp_path / "spool")
    sendmail = write_sendmail_program(tmp_path / "bin", collector.spool_dir)
    (home / "form.json").write_text(json.dumps({"name": "Jazzmaster", "price": 1400}))
    with SmtpSink(collector) as sink:
        (home / ".pylinkahead.ini").write_text(
            patch_pylinkahead_ini(
                USER_INI, backend_run.url, sendmail=str(sendmail), smtp=(sink.host, sink.port)
            ),
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if k not in ("PYLINKAHEADINI", "PYCAOSDBINI")}
        env["HOME"] = str(home)
        result = subprocess.run(
            [
                sys.executable,
                str(SCRIPTS / "talk_back.py"),
                f"--auth-token={BACKEND_TOKEN}",
                "form.json",
            ],
            cwd=home,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["user"] == ["alice", "PAM", ["data-manager"]]
    assert out["find"] == ["Bass Twelve", "Stratocaster"]
    assert out["count"] == 4
    assert out["select"] == [["Bass Twelve", 950.0], ["Stratocaster", 1200.5]]
    assert out["references"] == ["Spring Gala"]
    assert out["referenced_by"] == ["Yamaha"]
    assert out["updated_price"] == 1401.0
    assert out["download"] == "receipt for Jazzmaster\n"
    assert out["deleted"] is True

    changes = backend_run.store.changes
    assert [(c["role"], c["name"]) for c in changes["inserted"]] == [
        ("Property", "serial"),
        ("Record", "Jazzmaster"),
        ("File", None),
        ("Record", "Doomed"),
    ]
    assert [c["name"] for c in changes["updated"]] == ["Jazzmaster"]
    assert [c["name"] for c in changes["deleted"]] == ["Doomed"]
    calls = backend_run.recorder.calls
    assert {c["method"] for c in calls} == {"GET", "POST", "PUT", "DELETE"}
    assert all(c["status"] == 200 for c in calls)
    downloads = [c["path"] for c in calls if c["path"].startswith("/FileSystem/")]
    assert len(downloads) == 1 and downloads[0].endswith(f"receipts/{out['inserted']}.txt")

    mails = {m.subject: m for m in collector.mails}
    assert set(mails) == {"new guitar", "helper mail", "old style"}
    assert mails["new guitar"].to == ["bob@example.org"] and mails["new guitar"].cc == [
        "carol@example.org"
    ]
    assert mails["new guitar"].from_addr == "sss@example.org"
    assert mails["helper mail"].body.strip() == "via caosadvancedtools"
    assert mails["old style"].via == "sendmail" and mails["old style"].to == ["erin@example.org"]
