"""The Discover page in headless Chromium against the real `run.py --demo` process.

Upload a small ShareGPT export, watch the job's progress bar, see the cluster map and one card
per persona, import two of them and find them on the Personas page.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser import SCREENSHOTS
from tests.exports import write_sharegpt_export

DISCOVER_SCREENSHOT = SCREENSHOTS / "discover.png"
JOB_TIMEOUT_MS = 120_000


@pytest.mark.browser
def test_discover_upload_review_import(council_page: tuple[Page, list[str]],
                                       tmp_path: Path) -> None:
    page, errors = council_page
    export = tmp_path / "sharegpt.json"
    write_sharegpt_export(export)

    page.goto("/discover")
    expect(page.locator("#discover-empty")).to_be_visible()
    expect(page.locator("#result-section")).to_be_hidden()
    page.set_input_files("#upload-file", str(export))
    page.fill("#upload-clusters", "3")
    page.click("#upload-button")

    expect(page.locator("#progress-section")).to_be_visible()
    # a stage name shows while the job runs (the wait fails if none ever does)
    page.wait_for_function(
        "() => /parse|extract|embed|cluster|name|prompts|starting/"
        ".test(document.getElementById('progress-label').textContent)", timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#result-section")).to_be_visible(timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#progress-label")).to_contain_text("done")
    cards = page.locator("#cluster-cards .cluster-card")
    expect(cards).to_have_count(3)
    expect(page.locator("#map-chart")).to_be_visible()
    assert page.evaluate("() => Chart.getChart('map-chart').data.datasets"
                         ".reduce((n, d) => n + d.data.length, 0)") == 63
    expect(page.locator("#map-hint")).to_contain_text("63")
    first = cards.nth(0)
    expect(first.locator(".samples li")).to_have_count(3)
    expect(first.locator(".prompt-source")).to_contain_text("written by")
    assert first.locator(".prompt-input").input_value().strip()

    first.locator(".name-input").fill("My Debugging Mode")
    cards.nth(2).locator(".import-box").uncheck()
    second_name = cards.nth(1).locator(".name-input").input_value()
    page.click("#import-button")
    expect(page.locator("#import-result")).to_contain_text("Imported: 2 new")
    page.screenshot(path=str(DISCOVER_SCREENSHOT), full_page=True)

    page.click("#import-result a")
    expect(page.locator("table.personas")).to_contain_text("My Debugging Mode")
    expect(page.locator("table.personas")).to_contain_text(second_name)
    assert not errors, errors
