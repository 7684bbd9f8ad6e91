"""Tests of the example scripts with the sss-emulator pytest plugin (no conftest needed for it)."""

from __future__ import annotations

import configparser
import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any, ClassVar

import pytest

DATA = Path(__file__).parent / "data"


def test_hello(sss):
    res = sss.run_server_side_script("hello.py", "Ada", greeting="Hi")
    assert res.code == 0
    assert res.call == "hello.py --greeting=Hi Ada"
    assert res.stdout == "Hi, Ada!\n"
    assert res.stderr is None


@pytest.mark.sss(mode="both")
def test_hello_behaves_the_same_in_process(sss):
    res = sss.run_server_side_script("hello.py", " ")
    assert (res.code, res.stderr) == (2, "name must not be empty\n")


def test_csv_summary_offers_a_download(sss):
    res = sss.run_server_side_script("csv_summary.py", files={"-p0": DATA / "table.csv"})
    assert res.code == 0, res.stderr
    summary = json.loads(res.shared_files["summary.json"].read_text())
    assert summary == {"columns": ["name", "value"], "rows": 2}
    assert f'href="/Shared/{res.shared_dir.name}/summary.json"' in res.stdout


def test_bash_scripts_in_subfolders(sss):
    res = sss.run_server_side_script("maintenance/list_home.sh")
    assert ".upload_files" in res.stdout.splitlines()


@pytest.mark.sss(user="guest", roles=["visitor"])
def test_visitors_may_not_run_maintenance(sss):
    with pytest.raises(sss.errors.PermissionDenied, match="SCRIPTING:EXECUTE:maintenance"):
        sss.run_server_side_script("maintenance/list_home.sh")


# --- mail ------------------------------------------------------------------------------------


@pytest.mark.sss(mode="inprocess")
def test_sendmail_program_is_faked_with_fp(sss, fp):
    fp.register(["sendmail", "-t", "-oi"], returncode=0)
    res = sss.run_server_side_script("notify_sendmail.py", "job-7")
    assert (res.code, res.stdout) == (0, "notified curator@example.org\n")
    assert fp.call_count(["sendmail", "-t", "-oi"]) == 1


@pytest.mark.sss(mode="inprocess")
def test_sendmail_failure_is_reported(sss, fp):
    fp.register(["sendmail", "-t", "-oi"], returncode=75)
    res = sss.run_server_side_script("notify_sendmail.py", "job-8")
    assert res.code == 1
    assert res.stderr == "sendmail failed with exit code 75\n"


class _FakeSMTP:
    """Stands in for smtplib.SMTP inside linkahead.utils.email."""

    sent: ClassVar[list[EmailMessage]] = []

    def __init__(self, host: str, port: int, timeout: Any = None) -> None:
        self.address = (host, port)

    def __enter__(self) -> _FakeSMTP:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def send_message(self, msg: EmailMessage) -> None:
        self.sent.append(msg)


@pytest.mark.sss(mode="inprocess")
def test_send_mail_inprocess_with_monkeypatch(sss, monkeypatch):
    import linkahead.utils.email as la_email

    settings = configparser.ConfigParser()
    settings["Email"] = {"smtp_server": "smtp.invalid", "smtp_port": "25"}
    monkeypatch.setattr(la_email, "get_config", lambda: settings)
    monkeypatch.setattr(la_email, "SMTP", _FakeSMTP)
    monkeypatch.setattr(_FakeSMTP, "sent", [])
    res = sss.run_server_side_script("notify_curator.py", "job-9", to="curator@example.org")
    assert res.code == 0, res.stderr
    (mail,) = _FakeSMTP.sent
    assert (mail["To"], mail["Subject"]) == ("curator@example.org", "Job job-9 finished")
    assert "The job job-9 has finished." in mail.get_content()
