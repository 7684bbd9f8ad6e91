"""The page in real headless Chromium, against the real server on 127.0.0.1 port 0.

Each test fills and submits a form as a user would and checks what they would see. Screenshots
go to ``test-artifacts/webpage/``. Without Chromium the tests skip, except under ``CI``, where a
missing browser is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from webpage_helpers import ADMIN_PASSWORD, TEAM_PASSWORD, build_server

from sss_emulator.httpd import running_server

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "examples" / "data"
ARTIFACTS = REPO / "test-artifacts" / "webpage"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage")
WAIT_S = 30


def _find(*names: str) -> str | None:
    return next((found for name in names if (found := shutil.which(name))), None)


def _need_browser() -> tuple[str, str]:
    """The chromium and chromedriver paths; skip (or fail under CI) when they are missing."""
    browser = _find("chromium", "chromium-browser")
    driver = _find("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing = "selenium (pip install selenium)"
    else:
        missing = ", ".join(n for n, p in (("chromium", browser), ("chromedriver", driver))
                            if p is None)
    if missing:
        message = (f"browser tests need {missing}; install Debian's chromium and "
                   "chromium-driver (apt-get install -y chromium chromium-driver)")
        if os.environ.get("CI"):
            pytest.fail(message + " - CI is set, so a missing browser is an error")
        pytest.skip(message)
    assert browser and driver
    return browser, driver


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module, with a fresh profile directory."""
    chromium, chromedriver = _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="sss-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1100,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real server (``make_app``) serving the samples plus two test scripts."""
    root = tmp_path_factory.mktemp("site")
    extra = root / "extra_bin"
    extra.mkdir()
    from webpage_helpers import EXTRA_SCRIPTS

    for name, body in EXTRA_SCRIPTS.items():
        (extra / name).write_text(body)
        (extra / name).chmod(0o755)
    app = build_server(root, extra)
    with running_server(app) as handle:
        yield handle.url


def _wait(driver: Any, condition: Any) -> Any:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # a reload (after logging in) may replace an element between finding and reading it
    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, WAIT_S, ignored_exceptions=ignored).until(condition)


def _by_id(driver: Any, ident: str) -> Any:
    from selenium.webdriver.common.by import By

    return _wait(driver, lambda d: d.find_element(By.ID, ident))


def _shoot(driver: Any, name: str) -> Path:
    """Save the whole page (the window grows to the page's height for the shot)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    size = driver.get_window_size()
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(size["width"], min(max(height + 140, size["height"]), 3000))
    try:
        driver.save_screenshot(str(path))
    finally:
        driver.set_window_size(size["width"], size["height"])
    return path


def _login(driver: Any, site: str, user: str, password: str) -> None:
    """Log in through the page's own login form (the server's POST /login)."""
    from selenium.webdriver.common.by import By

    driver.get(site + "/")
    who = _by_id(driver, "who")
    if f"as {user} (" in who.text:
        return
    summary = who.find_element(By.CSS_SELECTOR, "details.login summary")
    if who.find_element(By.ID, "login-user").is_displayed() is False:
        summary.click()
    else:
        _shoot(driver, "logged-out-index")
    who.find_element(By.ID, "login-user").send_keys(user)
    who.find_element(By.ID, "login-password").send_keys(password)
    who.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    _wait(driver, lambda d: f"as {user} (" in d.find_element(By.ID, "who").text)


def _run_and_wait(driver: Any) -> Any:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, "#run-form button[type=submit]").click()
    _wait(driver, lambda d: (d.find_element(By.ID, "result").is_displayed()
          and d.find_elements(By.ID, "exit-code")) or d.find_elements(By.ID, "refused"))
    return driver.find_element(By.ID, "result")


def _open_shared_file(driver: Any, name: str) -> str:
    """Click a shared-file link (it opens a new tab) and return the text the browser got."""
    from selenium.webdriver.common.by import By

    main = driver.current_window_handle
    before = set(driver.window_handles)
    driver.find_element(By.LINK_TEXT, name).click()
    _wait(driver, lambda d: len(d.window_handles) > len(before))
    tab = (set(driver.window_handles) - before).pop()
    driver.switch_to.window(tab)
    try:
        text: str = _wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").text)
        return text
    finally:
        driver.close()
        driver.switch_to.window(main)


def test_generic_form_with_upload_option_and_shared_file(browser: Any, site: str) -> None:
    """shared_report.py: a file as -p0, --title as option; the report downloads by its link."""
    from selenium.webdriver.common.by import By

    _login(browser, site, "admin", ADMIN_PASSWORD)
    browser.find_element(By.LINK_TEXT, "shared_report.py").click()
    _by_id(browser, "p0-file").send_keys(str(DATA / "data.json"))
    browser.find_element(By.ID, "o0-name").send_keys("title")
    browser.find_element(By.ID, "o0-value").send_keys("Browser report")
    result = _run_and_wait(browser)
    assert browser.find_element(By.ID, "exit-code").text == "0"
    assert (browser.find_element(By.ID, "call").text
            == "shared_report.py --title=Browser report .upload_files/data.json")
    assert "admin (administration)" in result.text
    _shoot(browser, "generic-form-result")
    report = _open_shared_file(browser, "report.txt")
    assert report.startswith("Browser report\n==============")
    assert json.loads(report.split("\n", 2)[2]) == json.loads((DATA / "data.json").read_text())


def test_config_form_with_upload_renders_alerts(browser: Any, site: str) -> None:
    """handle_csv.py's form.json form: the caosadvancedtools alert shows styled, the file loads."""
    from selenium.webdriver.common.by import By

    _login(browser, site, "admin", ADMIN_PASSWORD)
    browser.get(site + "/sss/scripts/handle_csv.py")
    _by_id(browser, "cf-0").send_keys("first try")
    browser.find_element(By.ID, "cf-1").send_keys(str(DATA / "table.csv"))
    _run_and_wait(browser)
    assert browser.find_element(By.ID, "exit-code").text == "0"
    assert browser.find_element(By.ID, "call").text == "handle_csv.py .upload_files/form.json"
    assert browser.switch_to.active_element.get_attribute("id") == "result-title"
    frame = browser.find_element(By.ID, "stdout-frame")
    assert set(frame.get_attribute("sandbox").split()) == {
        "allow-popups", "allow-popups-to-escape-sandbox"}
    _shoot(browser, "config-form-result")
    browser.switch_to.frame(frame)
    try:
        alert = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".alert.alert-info"))
        assert "Read 3 rows." in alert.text
        assert alert.value_of_css_property("background-color") == "rgba(207, 244, 252, 1)"
    finally:
        browser.switch_to.default_content()
    summary = json.loads(_open_shared_file(browser, "output.json"))
    assert summary["parameter"] == "first try" and summary["rows"] == 3


def test_failing_script_shows_its_stderr(browser: Any, site: str) -> None:
    from selenium.webdriver.common.by import By

    _login(browser, site, "admin", ADMIN_PASSWORD)
    browser.get(site + "/sss/scripts/fails.bash")
    _by_id(browser, "p0").send_keys("input.txt")
    _run_and_wait(browser)
    assert browser.find_element(By.ID, "exit-code").text == "3"
    stderr = browser.find_element(By.ID, "stderr")
    assert stderr.text == "boom: no input file given"
    assert stderr.get_attribute("role") == "alert"
    assert browser.find_element(By.ID, "call").text == "fails.bash input.txt"
    _shoot(browser, "failing-script")


def test_script_output_cannot_touch_the_page(browser: Any, site: str) -> None:
    """A <script> in stdout does not run: the frame is sandboxed without allow-scripts."""
    from selenium.webdriver.common.by import By

    _login(browser, site, "admin", ADMIN_PASSWORD)
    browser.get(site + "/sss/scripts/escape.bash")
    title = _by_id(browser, "run-form") and browser.title
    _run_and_wait(browser)
    browser.switch_to.frame(browser.find_element(By.ID, "stdout-frame"))
    try:
        danger = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".alert-danger"))
        assert danger.value_of_css_property("background-color") == "rgba(248, 215, 218, 1)"
    finally:
        browser.switch_to.default_content()
    assert browser.title == title


def test_refused_call_says_why(browser: Any, site: str) -> None:
    """tina may not run minimal.bash: the page shows the server's 403 and its description."""
    from selenium.webdriver.common.by import By

    _login(browser, site, "tina", TEAM_PASSWORD)
    try:
        browser.get(site + "/sss/scripts/minimal.bash")
        _run_and_wait(browser)
        refused = browser.find_element(By.ID, "refused").text
        assert "HTTP 403" in refused and "SCRIPTING:EXECUTE:minimal.bash" in refused
    finally:
        browser.delete_all_cookies()


def test_history_reopens_a_run_on_a_narrow_window(browser: Any, site: str) -> None:
    """The index lists earlier runs; one reopens with its result, readable at phone width."""
    from selenium.webdriver.common.by import By

    _login(browser, site, "admin", ADMIN_PASSWORD)
    browser.get(site + "/sss/scripts/minimal.bash")
    _by_id(browser, "p0").send_keys("Positional0")
    browser.find_element(By.ID, "o0-name").send_keys("option2")
    browser.find_element(By.ID, "o0-value").send_keys("some-value")
    browser.find_element(By.CSS_SELECTOR, "[data-add=positional]").click()
    browser.find_element(By.CSS_SELECTOR, "[data-add=positional]").click()
    assert browser.switch_to.active_element.get_attribute("id") == "p3"
    browser.find_element(By.ID, "p3").send_keys("Positional3")
    _run_and_wait(browser)
    expected = "minimal.bash --option2=some-value Positional0   Positional3"
    assert browser.find_element(By.ID, "call").text.split() == expected.split()
    browser.get(site + "/")
    browser.find_element(By.CSS_SELECTOR, "#history li a").click()
    call = _by_id(browser, "call")
    assert call.text.split() == expected.split()
    browser.set_window_size(390, 900)
    try:
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0
        _shoot(browser, "narrow-run-page")
        browser.get(site + "/")
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0
        _shoot(browser, "narrow-index")
        browser.get(site + "/sss/scripts/minimal.bash")
        _by_id(browser, "run-form")
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0
        _shoot(browser, "narrow-generic-form")
    finally:
        browser.set_window_size(1100, 1000)


def test_keyboard_alone_runs_a_script(browser: Any, site: str) -> None:
    """Tab from the top of the page to the first argument, type, press Enter: the script runs."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _login(browser, site, "admin", ADMIN_PASSWORD)
    browser.get(site + "/sss/scripts/minimal.bash")
    _by_id(browser, "run-form")
    for _ in range(40):
        browser.switch_to.active_element.send_keys(Keys.TAB)
        if browser.switch_to.active_element.get_attribute("id") == "p0":
            break
    assert browser.switch_to.active_element.get_attribute("id") == "p0"
    browser.switch_to.active_element.send_keys("typed", Keys.ENTER)
    _wait(browser, lambda d: d.find_elements(By.ID, "exit-code"))
    assert browser.find_element(By.ID, "call").text == "minimal.bash typed"
    assert browser.switch_to.active_element.get_attribute("id") == "result-title"
