"""The page in real headless Chromium, against the real server on 127.0.0.1 port 0.

Each test fills and submits a form as a user would and checks what they would see, most of them
at a desktop (1400×900) and a phone (390×844) window. Screenshots go to
``test-artifacts/webpage/`` (``<what>-<width>.png``). Without Chromium the tests skip, except
under ``CI``, where a missing browser is a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import wait_for
from webpage_helpers import (
    ADMIN_PASSWORD,
    LONG_NAME,
    TEAM_PASSWORD,
    build_server,
    write_extra_scripts,
)

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
#: The two windows every page point is checked at: a desktop and a phone.
WINDOWS = {"1400": (1400, 900), "390": (390, 844)}


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
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1400,900"):
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
    write_extra_scripts(extra)
    app = build_server(root, extra)
    with running_server(app) as handle:
        yield handle.url


@pytest.fixture(params=list(WINDOWS))
def width(request: pytest.FixtureRequest, browser: Any) -> Iterator[str]:
    """Run the test at each window size; the name goes into the screenshots' names."""
    browser.set_window_size(*WINDOWS[request.param])
    try:
        yield request.param
    finally:
        browser.set_window_size(*WINDOWS["1400"])


def _wait(driver: Any, condition: Any) -> Any:
    return wait_for(driver, condition, WAIT_S)


def _by_id(driver: Any, ident: str) -> Any:
    from selenium.webdriver.common.by import By

    return _wait(driver, lambda d: d.find_element(By.ID, ident))


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.png"


def _shoot(driver: Any, name: str) -> Path:
    """Save the whole page (the window grows to the page's height for the shot)."""
    path = _artifact(name)
    size = driver.get_window_size()
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(size["width"], min(max(height + 140, size["height"]), 6000))
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
    _wait(driver, lambda d: d.find_element(By.ID, "result").is_displayed()
          and d.find_elements(By.ID, "result-headline"))
    return driver.find_element(By.ID, "result")


def _sideways(driver: Any) -> int:
    """How far the page scrolls sideways (0: it does not)."""
    return int(driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"))


def _status(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, "#run-form .status").text)


def _wait_frame_sized(driver: Any) -> Any:
    """The stdout frame, once it has reported its height and taken it."""
    from selenium.webdriver.common.by import By

    return _wait(driver, lambda d: (f := d.find_element(By.ID, "stdout-frame"))
                 .get_attribute("data-sized") and f)


def _wrapped_facts(driver: Any) -> list[str]:
    """The result facts (other than the call) whose value takes more than one line."""
    return list(driver.execute_script("""
        return Array.from(document.querySelectorAll('.facts div:not(.call-fact) dd'))
          .filter((dd) => dd.getBoundingClientRect().height >
                          1.6 * parseFloat(getComputedStyle(dd).lineHeight))
          .map((dd) => dd.textContent);"""))


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


def test_config_form_result_says_done_with_facts_on_one_line(browser: Any, site: str,
                                                             width: str) -> None:
    """handle_csv.py's form.json form: "Done — exit 0", the alert styled as in the web UI,
    each fact on one line, and the shared file loads."""
    from selenium.webdriver.common.by import By

    _login(browser, site, "admin", ADMIN_PASSWORD)
    browser.get(site + "/sss/scripts/handle_csv.py")
    _by_id(browser, "cf-0").send_keys("first try")
    browser.find_element(By.ID, "cf-1").send_keys(str(DATA / "table.csv"))
    _run_and_wait(browser)
    headline = browser.find_element(By.ID, "result-headline")
    assert headline.text.startswith("Done — exit 0")
    assert "done" in headline.get_attribute("class").split()
    assert _status(browser) == "Done."
    assert browser.find_element(By.ID, "exit-code").text == "0"
    assert browser.find_element(By.ID, "call").text == "handle_csv.py .upload_files/form.json"
    assert browser.switch_to.active_element.get_attribute("id") == "result-title"
    assert _wrapped_facts(browser) == []
    frame = _wait_frame_sized(browser)
    assert set(frame.get_attribute("sandbox").split()) == {
        "allow-scripts", "allow-popups", "allow-popups-to-escape-sandbox"}
    assert _sideways(browser) <= 0
    _shoot(browser, f"config-form-result-{width}")
    browser.switch_to.frame(frame)
    try:
        alert = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".alert.alert-info"))
        assert "Read 3 rows." in alert.text
        assert alert.value_of_css_property("background-color") == "rgba(207, 244, 252, 1)"
    finally:
        browser.switch_to.default_content()
    summary = json.loads(_open_shared_file(browser, "output.json"))
    assert summary["parameter"] == "first try" and summary["rows"] == 3


def test_tall_html_output_is_shown_whole(browser: Any, site: str, width: str) -> None:
    """60 table rows between two alerts: the frame takes the output's full height, so nothing
    hides behind an inner scroll area, and the table and alerts look as in the web UI."""
    from selenium.webdriver.common.by import By

    _login(browser, site, "admin", ADMIN_PASSWORD)
    browser.get(site + "/sss/scripts/tall.bash")
    _by_id(browser, "run-form")
    _run_and_wait(browser)
    frame = _wait_frame_sized(browser)
    outer = frame.size["height"]
    assert outer > 1500  # 60 rows: far more than the old guess from the line count allowed
    browser.switch_to.frame(frame)
    try:
        inner = browser.execute_script(
            "return [document.documentElement.scrollHeight, window.innerHeight,"
            " document.documentElement.scrollWidth - document.documentElement.clientWidth]")
        last = browser.find_element(By.ID, "last")
        assert last.value_of_css_property("background-color") == "rgba(255, 243, 205, 1)"
        stripe = browser.find_element(By.CSS_SELECTOR, "table.table-striped tr:nth-of-type(3) td")
        assert stripe.value_of_css_property("background-color") == "rgba(0, 0, 0, 0.05)"
    finally:
        browser.switch_to.default_content()
    scroll_height, viewport, sideways = inner
    assert scroll_height <= viewport, "the output scrolls inside its frame"
    assert sideways <= 0
    assert _sideways(browser) <= 0
    _shoot(browser, f"tall-output-{width}")


def test_failed_run_has_a_headline_with_stderr_in_view(browser: Any, site: str,
                                                        width: str) -> None:
    """fails.bash exits 3: "Failed — exit 3" tops the result, stderr right under it and on
    screen, and the status beside the button does not say "Done."."""
    from selenium.webdriver.common.by import By

    _login(browser, site, "admin", ADMIN_PASSWORD)
    browser.get(site + "/sss/scripts/fails.bash")
    _by_id(browser, "p0").send_keys("input.txt")
    _run_and_wait(browser)
    headline = browser.find_element(By.ID, "result-headline")
    assert headline.text.startswith("Failed — exit 3")
    assert "failed" in headline.get_attribute("class").split()
    stderr = headline.find_element(By.ID, "stderr")
    assert stderr.text == "boom: no input file given"
    assert stderr.get_attribute("role") == "alert"
    assert _status(browser).startswith("Failed — exit 3")
    assert "Done" not in _status(browser)
    assert browser.find_element(By.ID, "exit-code").text == "3"
    assert browser.find_element(By.ID, "call").text == "fails.bash input.txt"
    in_view = browser.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        " return r.top >= 0 && r.bottom <= window.innerHeight;", stderr)
    assert in_view, "stderr is below the first screen of the result"
    assert _wrapped_facts(browser) == []
    assert _sideways(browser) <= 0
    browser.save_screenshot(str(_artifact(f"failed-run-screen-{width}")))
    _shoot(browser, f"failed-run-{width}")


def test_script_output_cannot_touch_the_page(browser: Any, site: str, width: str) -> None:
    """A <script> or an onerror= in stdout does not run, although the frame runs its own
    pinned resize script; the frame has no same-origin access; links resolve to the server."""
    from selenium.webdriver.common.by import By

    _login(browser, site, "admin", ADMIN_PASSWORD)
    browser.get(site + "/sss/scripts/escape.bash")
    title = _by_id(browser, "run-form") and browser.title
    _run_and_wait(browser)
    frame = _wait_frame_sized(browser)  # the pinned script did run
    assert "allow-same-origin" not in frame.get_attribute("sandbox")
    browser.switch_to.frame(frame)
    try:
        danger = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".alert-danger"))
        assert danger.value_of_css_property("background-color") == "rgba(248, 215, 218, 1)"
        link = browser.find_element(By.ID, "shared")
        assert link.get_property("href") == site + "/Shared/x/report.txt"
        assert link.get_attribute("target") in (None, "")
        _wait(browser, lambda d: d.execute_script("return document.readyState") == "complete")
        ran = browser.execute_script("return document.body.dataset.ran || null")
    finally:
        browser.switch_to.default_content()
    assert ran is None, f"stdout ran a {ran}"
    assert browser.title == title
    _shoot(browser, f"escape-{width}")


def _html_app(html: str) -> Any:
    """A WSGI app of another program: every path answers this page."""
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = html.encode()
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    return app


def _logged_in_as(driver: Any, site: str, user: str) -> bool:
    driver.get(site + "/")
    return f"as {user} (" in _by_id(driver, "who").text


def test_other_sites_cannot_log_the_user_out(browser: Any, site: str) -> None:
    """An <img> on another port of 127.0.0.1 and a refresh from 127.0.0.2, both without a
    Referer, ask for /logout with the user's cookie: the server refuses both (issue 20)."""
    _login(browser, site, "admin", ADMIN_PASSWORD)
    image = (f'<img src="{site}/logout" referrerpolicy="no-referrer" alt=""'
             ' onerror="document.title = \'tried\'" onload="document.title = \'tried\'">')
    with running_server(_html_app(f"<!doctype html><title>cat</title>{image}")) as other:
        browser.get(other.url + "/cats.html")
        _wait(browser, lambda d: d.title == "tried")
    assert _logged_in_as(browser, site, "admin"), "an <img> on another port logged the user out"
    refresh = ('<!doctype html><meta name="referrer" content="no-referrer">'
               f'<meta http-equiv="refresh" content="0;url={site}/logout">')
    with running_server(_html_app(refresh), host="127.0.0.2") as far:
        browser.get(far.url + "/news.html")
        _wait(browser, lambda d: d.current_url == site + "/logout"
              and d.execute_script("return document.readyState") == "complete")
        assert "cross-site GET" in browser.page_source
    assert _logged_in_as(browser, site, "admin"), "a navigation from 127.0.0.2 logged out"


def test_a_refresh_in_the_output_does_not_navigate_the_frame(
        browser: Any, tmp_path: Path) -> None:
    """A <meta http-equiv=refresh> in stdout would load another page into the output frame,
    and each time the page put the output back, load it again (10-20 requests a second). The
    frame keeps the output and the server sees no request from it (issue 20)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "refresh.bash"
    script.write_text("#!/bin/bash\necho '<p id=\"kept\">The output.</p>'\n"
                      "echo '<meta http-equiv=\"refresh\" "
                      "content=\"0;url=/sss/api/scripts?from-the-frame\">'\n"
                      "echo '<META HTTP-EQUIV=Refresh CONTENT=\"0; URL=?from-the-frame\">'\n"
                      "echo '<noscript><p title=\"</noscript><meta http-equiv=refresh "
                      "content=0;url=?from-the-frame>\"></p></noscript>'\n"
                      "echo '<a id=\"self\" target=\"_self\" href=\"?from-the-frame\">x</a>'\n")
    script.chmod(0o755)
    app = build_server(tmp_path, folder)
    seen: list[str] = []

    def counting(environ: dict[str, Any], start_response: Any) -> Any:
        seen.append(f"{environ['PATH_INFO']}?{environ.get('QUERY_STRING', '')}")
        return app(environ, start_response)

    try:
        with running_server(counting) as handle:
            _login(browser, handle.url, "admin", ADMIN_PASSWORD)
            browser.get(handle.url + "/sss/scripts/refresh.bash")
            _by_id(browser, "run-form")
            _run_and_wait(browser)
            frame = _wait_frame_sized(browser)
            # The refresh would be sent right after the frame's load; give it its chance.
            with contextlib.suppress(TimeoutException):
                WebDriverWait(browser, 3).until(
                    lambda _: any("from-the-frame" in s for s in seen))
            assert [s for s in seen if "from-the-frame" in s] == []
            assert not browser.find_elements(By.ID, "stdout-navigated")
            browser.switch_to.frame(frame)
            try:
                assert browser.execute_script("return location.href") == "about:srcdoc"
                assert browser.find_element(By.ID, "kept").text == "The output."
                assert browser.execute_script(
                    "return document.getElementById('self').hasAttribute('target')") is False
            finally:
                browser.switch_to.default_content()
    finally:
        browser.delete_all_cookies()
        app.close()


def test_refused_call_keeps_the_arguments(browser: Any, site: str, width: str) -> None:
    """tina may not run minimal.bash: "Refused — 403 Forbidden", the server's description,
    and the call with the arguments she sent."""
    from selenium.webdriver.common.by import By

    _login(browser, site, "tina", TEAM_PASSWORD)
    try:
        browser.get(site + "/sss/scripts/minimal.bash")
        _by_id(browser, "p0").send_keys("Positional0")
        browser.find_element(By.ID, "o0-name").send_keys("option2")
        browser.find_element(By.ID, "o0-value").send_keys("v")
        _run_and_wait(browser)
        headline = browser.find_element(By.ID, "result-headline")
        assert headline.text.startswith("Refused — 403 Forbidden")
        refused = browser.find_element(By.ID, "refused").text
        assert "HTTP 403" in refused and "SCRIPTING:EXECUTE:minimal.bash" in refused
        assert browser.find_element(By.ID, "call").text == "minimal.bash --option2=v Positional0"
        assert _status(browser).startswith("Refused — 403")
        assert not browser.find_elements(By.ID, "stdout-frame")
        assert _sideways(browser) <= 0
        _shoot(browser, f"refused-{width}")
    finally:
        browser.delete_all_cookies()


def test_ignored_form_fields_are_named_on_the_run(browser: Any, site: str, width: str) -> None:
    """A client posts --option2 (the CLI's spelling) instead of -Ooption2: the server drops
    it, and the run's page says which field was ignored and what was meant."""
    from selenium.webdriver.common.by import By

    _login(browser, site, "admin", ADMIN_PASSWORD)
    srid = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const data = new FormData();
        data.append("call", "minimal.bash");
        data.append("--option2", "x");
        data.append("-p0", "a");
        fetch(document.body.dataset.scripting, {method: "POST", body: data})
          .then((r) => r.text())
          .then((t) => done(/srid="([0-9a-f]+)"/.exec(t)[1]));""")
    browser.get(f"{site}/sss/runs/{srid}")
    notice = _by_id(browser, "ignored-fields")
    assert "'--option2' was ignored" in notice.text and "did you mean -Ooption2?" in notice.text
    assert browser.find_element(By.ID, "call").text == "minimal.bash a"
    assert _sideways(browser) <= 0
    _shoot(browser, f"ignored-fields-{width}")


def test_index_fits_the_window_and_shows_form_titles(browser: Any, site: str,
                                                      width: str) -> None:
    """A very long script name does not push the index sideways, a form's title shows under
    its script, and "Run as another user" and "Log out" are one group of look-alike buttons."""
    from selenium.webdriver.common.by import By

    _login(browser, site, "admin", ADMIN_PASSWORD)
    browser.get(site + "/")
    assert browser.execute_script("return document.documentElement.clientWidth") <= int(width)
    assert browser.find_element(By.LINK_TEXT, LONG_NAME).is_displayed()
    assert _sideways(browser) <= 0
    row = browser.find_element(By.XPATH, "//tr[th/a[text()='handle_csv.py']]")
    assert row.find_element(By.CLASS_NAME, "form-title").text == "Summarise a CSV table"
    switch = browser.find_element(By.CSS_SELECTOR, ".account details.login summary")
    logout = browser.find_element(By.CSS_SELECTOR, ".account form.logout button")
    assert switch.text == "Run as another user" and logout.text == "Log out"
    for prop in ("font-size", "color", "background-color", "border-top-color",
                 "border-top-width", "border-top-left-radius", "padding-top"):
        assert switch.value_of_css_property(prop) == logout.value_of_css_property(prop), prop
    assert abs(switch.size["height"] - logout.size["height"]) <= 1
    _shoot(browser, f"index-{width}")
    browser.get(site + "/sss/scripts/" + LONG_NAME)
    _by_id(browser, "run-form")
    assert _sideways(browser) <= 0
    _shoot(browser, f"long-name-form-{width}")


def test_logged_out_header_does_not_claim_anonymous(browser: Any, site: str,
                                                     width: str) -> None:
    """Anonymous access is off on this server: logged out, the header asks to log in."""
    browser.get(site + "/")
    browser.delete_all_cookies()
    browser.get(site + "/")
    who = _by_id(browser, "who")
    assert "anonymous" not in who.text.replace("anonymous access is off", "")
    assert "Log in to run scripts" in who.text
    assert _sideways(browser) <= 0
    _shoot(browser, f"logged-out-{width}")


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
    browser.set_window_size(*WINDOWS["390"])
    try:
        assert _sideways(browser) <= 0
        _shoot(browser, "narrow-run-page")
        browser.get(site + "/sss/scripts/minimal.bash")
        _by_id(browser, "run-form")
        assert _sideways(browser) <= 0
        _shoot(browser, "narrow-generic-form")
    finally:
        browser.set_window_size(*WINDOWS["1400"])


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
