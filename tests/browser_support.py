"""Waiting in browser tests, written once for the page's and the record proxy's tests."""

from __future__ import annotations

from typing import Any


def wait_for(driver: Any, condition: Any, timeout_s: float) -> Any:
    """``condition(driver)`` once it is truthy. A reload (after logging in) may replace an
    element between finding and reading it: Chrome then says the element is stale, or that the
    node "does not belong to the document"; both mean: look again."""
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        WebDriverException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    def settled(d: Any) -> Any:
        try:
            return condition(d)
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return False
            raise

    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, timeout_s, ignored_exceptions=ignored).until(settled)
