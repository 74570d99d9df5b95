"""The web page in a real browser: headless Chromium (selenium) against a real server.

Needs the Debian packages ``chromium`` and ``chromium-driver`` (``.ci/run`` installs
them). Without them the test is skipped on a developer's machine and fails in CI
(``CI`` set), so CI never passes without having driven the page.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
PAGE_TIMEOUT = 120  # seconds for a prediction to show on a busy machine


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and DRIVER):
        message = "headless Chromium needs the packages chromium and chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI must install them: see .ci/run)")
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1100,1500", "--force-device-scale-factor=1"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def save_screenshot(driver, tmp_path: Path, name: str) -> Path:
    """Into the test's folder and, when ``SERTK_ARTIFACTS`` is set, into that folder too."""
    path = tmp_path / name
    driver.get_screenshot_as_file(str(path))
    assert path.stat().st_size > 10_000
    if os.environ.get("SERTK_ARTIFACTS"):
        folder = Path(os.environ["SERTK_ARTIFACTS"])
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder / name)
    return path


def upload(driver, path: Path, previous: str = "") -> str:
    """Choose ``path`` in the page's file input; return the label shown once it changes."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.ID, "status").get_attribute("textContent")
    driver.find_element(By.ID, "file-input").send_keys(str(path))
    WebDriverWait(driver, PAGE_TIMEOUT).until(
        lambda d: d.find_element(By.ID, "status").text.endswith(f"{path.name}: done")
        or "error" in (d.find_element(By.ID, "status").get_attribute("class") or ""))
    status = driver.find_element(By.ID, "status")
    assert "error" not in (status.get_attribute("class") or ""), status.text
    return driver.find_element(By.ID, "result-label").text


def test_page_shows_the_apis_label_and_timeline(browser, emodb_server, emodb_clips,
                                                long_recording, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(emodb_server.url + "/")
    WebDriverWait(browser, 30).until(
        lambda d: d.find_element(By.ID, "model-line").text.startswith("model emodb"))
    limits = browser.find_element(By.ID, "limits").text
    assert "acted German speech" in limits  # the model card's limits are on the page

    clip = emodb_clips[10]
    with open(clip, "rb") as f:
        expected = httpx.post(f"{emodb_server.url}/predict", files={"file": (clip.name, f)},
                              timeout=120).json()
    shown = upload(browser, clip)
    assert shown.lower() == expected["label"]
    bars = browser.find_elements(By.CSS_SELECTOR, "#bars .bar-name")
    assert [b.text.lower() for b in bars] == list(expected["probabilities"])
    assert not browser.find_element(By.ID, "timeline-block").is_displayed()
    save_screenshot(browser, tmp_path, "serve-page-clip.png")

    browser.find_element(By.ID, "opt-vad").click()
    upload(browser, long_recording)
    assert browser.find_element(By.ID, "timeline-block").is_displayed()
    drawn = browser.execute_script(
        "const c = document.getElementById('timeline');"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n;")
    assert drawn > 5000  # bands and curves were drawn
    assert "no-speech" in browser.find_element(By.ID, "shares").text
    save_screenshot(browser, tmp_path, "serve-page-timeline.png")
