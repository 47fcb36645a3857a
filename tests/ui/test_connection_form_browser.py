"""Airflow's own Add Connection form, in headless Chromium, shows the Instagram connection type natively.

Drives the distribution's Chromium through Selenium and the distribution's chromedriver (never a
downloaded browser). Skips when either is missing, unless ``INSTAGRAM_HIL_REQUIRE_BROWSER=1`` (CI).
On failure a screenshot and the page's HTML are saved in the test's tmp dir.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(600)]

REQUIRE_ENV = "INSTAGRAM_HIL_REQUIRE_BROWSER"
CHROMIUM = os.environ.get("INSTAGRAM_HIL_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("INSTAGRAM_HIL_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)
WAIT_SECONDS = 30

STANDARD_LABELS = ("Graph API base URL", "Access token")
HIDDEN_STANDARD_LABELS = ("Login", "Port", "Schema", "Host", "Password")
#: Extra-field label -> the input's ``name`` Airflow renders, and its type.
EXTRA_FIELDS = {
    "Graph API version": ("element_api_version", "text"),
    "Account ID": ("element_account_id", "text"),
    "App secret": ("element_app_secret", "password"),
    "Webhook verify token": ("element_verify_token", "password"),
    "Request timeout (seconds)": ("element_timeout", "text"),
}


def _missing_browser_parts() -> list[str]:
    missing = []
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[dev]')")
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (Path(path).is_file() and os.access(path, os.X_OK)) and not shutil.which(path):
            missing.append(f"{path} (apt-get install {package})")
    return missing


@pytest.fixture(scope="session")
def browser_paths() -> tuple[str, str]:
    """Chromium and chromedriver, or skip (fail when INSTAGRAM_HIL_REQUIRE_BROWSER=1) with the reason."""
    missing = _missing_browser_parts()
    if missing:
        reason = "browser tests need " + " and ".join(missing)
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
        pytest.skip(reason)
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture(scope="module")
def driver(browser_paths, api_server) -> Iterator[Any]:
    # browser_paths comes first: with no browser, skip before starting an API server.
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = browser_paths
    options = Options()
    options.binary_location = chromium
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    browser = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def page(driver, request, tmp_path) -> Iterator[Any]:
    """The browser for one test; a screenshot and the HTML land in tmp_path if the test fails."""
    yield driver
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        driver.save_screenshot(str(tmp_path / "failure.png"))
        (tmp_path / "failure.html").write_text(driver.page_source, encoding="utf-8")
        print(f"\nscreenshot and HTML of the failed page: {tmp_path}")


def _open_instagram_form(page: Any, base_url: str) -> Any:
    """Open Add Connection, pick the Instagram type; return the dialog element."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(page, WAIT_SECONDS)
    page.get(f"{base_url}/connections")
    add = (By.XPATH, "//button[normalize-space()='Add Connection']")
    wait.until(ec.element_to_be_clickable(add)).click()
    combo = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "[role=dialog] input[role=combobox]")))
    combo.click()
    combo.send_keys("Instagram")
    wait.until(
        ec.visibility_of_element_located((By.XPATH, "//*[@role='option'][normalize-space()='Instagram']"))
    )
    combo.send_keys(Keys.ENTER)
    wait.until(
        ec.visibility_of_element_located((By.XPATH, "//label[normalize-space()='Graph API base URL']"))
    )
    return page.find_element(By.CSS_SELECTOR, "[role=dialog]")


def _visible_labels(dialog: Any) -> set[str]:
    from selenium.webdriver.common.by import By

    return {
        label.text.strip() for label in dialog.find_elements(By.TAG_NAME, "label") if label.is_displayed()
    }


def _expand(page: Any, section: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    button = page.find_element(By.XPATH, f"//button[normalize-space()='{section}']")
    if button.get_attribute("aria-expanded") != "true":
        button.click()
    WebDriverWait(page, WAIT_SECONDS).until(lambda _: button.get_attribute("aria-expanded") == "true")


class TestAddConnectionForm:
    def test_standard_fields_are_relabelled_and_trimmed(self, page, api_server):
        from selenium.webdriver.common.by import By

        dialog = _open_instagram_form(page, api_server.url)
        labels = _visible_labels(dialog)
        for label in STANDARD_LABELS:
            assert label in labels
        for label in HIDDEN_STANDARD_LABELS:
            assert label not in labels
        host = dialog.find_element(By.CSS_SELECTOR, "input[name=host]")
        assert host.get_attribute("placeholder").startswith("https://graph.facebook.com")
        assert (
            dialog.find_element(By.CSS_SELECTOR, "input[name=password]").get_attribute("type") == "password"
        )

    def test_extra_fields_have_our_labels_and_inputs(self, page, api_server):
        from selenium.webdriver.common.by import By

        dialog = _open_instagram_form(page, api_server.url)
        _expand(page, "Extra Fields")
        labels = _visible_labels(dialog)
        for label, (name, input_type) in EXTRA_FIELDS.items():
            assert label in labels
            field = dialog.find_element(By.CSS_SELECTOR, f"input[name={name}]")
            assert field.is_displayed()
            assert field.get_attribute("type") == input_type

    def test_saved_form_gives_the_connection_the_hook_reads(self, page, api_server):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        conn_id = "instagram_browser_" + secrets.token_hex(3)
        dialog = _open_instagram_form(page, api_server.url)
        dialog.find_element(By.CSS_SELECTOR, "input[name=connection_id]").send_keys(conn_id)
        dialog.find_element(By.CSS_SELECTOR, "input[name=host]").send_keys("https://graph.instagram.com")
        dialog.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys("browser-token")
        _expand(page, "Extra Fields")
        values = {"element_api_version": "v25.0", "element_app_secret": "browser-secret"}
        for name, value in values.items():
            dialog.find_element(By.CSS_SELECTOR, f"input[name={name}]").send_keys(value)
        save = (By.XPATH, "//*[@role='dialog']//button[normalize-space()='Save']")
        WebDriverWait(page, WAIT_SECONDS).until(ec.element_to_be_clickable(save)).click()

        deadline = time.monotonic() + WAIT_SECONDS
        response = None
        while time.monotonic() < deadline:
            response = requests.get(f"{api_server.url}/api/v2/connections/{conn_id}", timeout=10)
            if response.status_code == 200:
                break
            time.sleep(0.3)
        assert response is not None
        assert response.status_code == 200, "the form did not save the connection"
        saved = response.json()
        assert saved["conn_type"] == "instagram"
        assert saved["host"] == "https://graph.instagram.com"
        extra = json.loads(saved["extra"])
        assert extra["api_version"] == "v25.0"
        assert extra["app_secret"] != "browser-secret", "the REST API must mask the app secret"
