"""``record`` in front of the server, driven by the browser page in real headless Chromium.

The page, its login and its form posts all go through the proxy; the calls it makes must come
out as call files that ``replay`` passes. Skips without Chromium, except under ``CI``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import wait_for
from click.testing import CliRunner
from fidelity_helpers import PASSWORD, Server

from sss_emulator.callfile import load_call_file
from sss_emulator.cli.commands import main
from sss_emulator.fidelity.record import RecordingProxy
from sss_emulator.fidelity.recording import CallFileWriter
from sss_emulator.httpd import running_server

pytestmark = pytest.mark.browser

WAIT_S = 30


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium; skip (fail under CI) without chromium, chromedriver, selenium."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        chromium = None
    if not (chromium and driver_path):
        message = "browser tests need chromium, chromium-driver and selenium"
        if os.environ.get("CI"):
            pytest.fail(message + " - CI is set, so a missing browser is an error")
        pytest.skip(message)
    profile = tempfile.mkdtemp(prefix="sss-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-dev-shm-usage", "--disable-background-networking",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(driver: Any, condition: Any) -> Any:
    return wait_for(driver, condition, WAIT_S)


def test_the_browser_page_through_the_proxy_is_recorded(
        browser: Any, server: Server, site: Path, tmp_path: Path, examples: Path,
        samples: Path, fidelity_env: dict[str, str]) -> None:
    """Log in on the page, run shared_report.py with an upload; the recorded file replays."""
    from selenium.webdriver.common.by import By

    writer = CallFileWriter(tmp_path / "recorded", upstream=server.url,
                            bin_dirs=[site / "bin", samples])
    proxy = RecordingProxy(server.url, writer, timeout=60)
    with running_server(proxy) as front:
        browser.get(front.url + "/")
        who = _wait(browser, lambda d: d.find_element(By.ID, "who"))
        who.find_element(By.CSS_SELECTOR, "details.login summary").click()
        who.find_element(By.ID, "login-user").send_keys("admin")
        who.find_element(By.ID, "login-password").send_keys(PASSWORD)
        who.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
        _wait(browser, lambda d: "as admin (" in d.find_element(By.ID, "who").text)
        browser.get(front.url + "/sss/scripts/shared_report.py")
        _wait(browser, lambda d: d.find_element(By.ID, "p0-file")).send_keys(
            str(examples / "data" / "data.json"))
        browser.find_element(By.ID, "o0-name").send_keys("title")
        browser.find_element(By.ID, "o0-value").send_keys("Browser report")
        browser.find_element(By.CSS_SELECTOR, "#run-form button[type=submit]").click()
        _wait(browser, lambda d: d.find_elements(By.ID, "exit-code"))
        assert browser.find_element(By.ID, "exit-code").text == "0"
        assert browser.find_element(By.ID, "call").text == (
            "shared_report.py --title=Browser report .upload_files/data.json")
    assert [p.name for p in proxy.recorded] == ["sss_0001_shared_report.py.yaml"]
    case = load_call_file(proxy.recorded[0])[0]
    assert case.options == (("title", "Browser report"),)
    assert case.expect["shared_files"]["report.txt"].startswith("Browser report\n=====")
    result = CliRunner().invoke(main, ["replay", str(proxy.recorded[0]), "--home",
                                       str(site / "home-server")], env=fidelity_env,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
