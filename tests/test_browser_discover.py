"""The Discover page in headless Chromium against the real `run.py --demo` process.

Upload a small ShareGPT export, watch the job's progress bar, see the cluster map and one card
per persona, import two of them and find them on the Personas page. A failed upload or run
shows as such and never passes for the results of an earlier run; long samples are cut.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from council.discovery.pipeline import DiscoveryOptions, run_discovery
from council.embeddings.sentence import SentenceEmbedder
from tests.browser import SCREENSHOTS
from tests.exports import GROUPS, write_sharegpt_export

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
    expect(page.locator("#upload-form .balance-value")).to_have_text("20% topic, 80% style")
    page.click("#upload-button")

    expect(page.locator("#progress-section")).to_be_visible()
    # a stage name shows while the job runs (the wait fails if none ever does)
    page.wait_for_function(
        "() => /parse|extract|embed|cluster|name|prompts|starting/"
        ".test(document.getElementById('progress-label').textContent)", timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#result-section")).to_be_visible(timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#progress-label")).to_contain_text("done")
    expect(page.locator("#result-origin")).to_contain_text("Results of run #1 on sharegpt.json")
    cards = page.locator("#cluster-cards .cluster-card")
    expect(cards).to_have_count(3)
    expect(page.locator("#map-chart")).to_be_visible()
    assert page.evaluate("() => Chart.getChart('map-chart').data.datasets"
                         ".reduce((n, d) => n + d.data.length, 0)") == 63
    expect(page.locator("#map-hint")).to_contain_text("63")
    expect(page.locator("#map-hint")).to_contain_text(
        "Clustered with the topic ↔ style balance at 0.8 (20% topic, 80% style).")
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


# --- a failed upload or run never passes for the earlier results ----------------------------

# passes the upload's check (a ShareGPT conversation), fails the job: the user wrote nothing
NO_USER_MESSAGES = '[{"conversations": [{"from": "gpt", "value": "Hello."}]}]'
UPLOAD_LIMIT_MB = 1
# long enough that every message of a cluster is cut on its card
PADDING = {
    "python": "I tried reinstalling the packages, reading the traceback line by line and "
              "printing every intermediate value, and the error still comes back each time. ",
    "cooking": "We like simple dishes with fresh vegetables, not too spicy, ready within an "
               "hour, and the kitchen has an oven, two pans and a small food processor. ",
    "marketing": "The budget is modest, the audience is small businesses, and we want a plan "
                 "with channels, messaging, a timeline and the numbers we should track. ",
}


@pytest.fixture
def app_env() -> dict[str, str]:
    return {"COUNCIL_MAX_UPLOAD_MB": str(UPLOAD_LIMIT_MB)}


def discover_before(data_dir: Path, export: Path, embedder: SentenceEmbedder) -> None:
    """Results on disk from a run outside the page (as `council discover` leaves them)."""
    run_discovery(DiscoveryOptions(input=export, data_dir=data_dir / "personas", clusters=3),
                  embedder, None, "unused")


def write_long_export(path: Path) -> None:
    conversations = [{"id": f"{group}-{n}-{i}", "conversations": [
        {"from": "human", "value": template.format(n=n) + " " + PADDING[group] * 4},
        {"from": "gpt", "value": "Here is an answer."}]}
        for group, templates in GROUPS.items() for n in range(1, 8)
        for i, template in enumerate(templates)]
    path.write_text(json.dumps(conversations), encoding="utf-8")


def only_refused_uploads(errors: list[str]) -> list[str]:
    """The console errors besides the browser's own note of each refused upload (4xx)."""
    return [e for e in errors
            if not ("Failed to load resource" in e and "/api/discover/upload" in e)]


@pytest.mark.browser
def test_a_failed_upload_runs_nothing_and_hides_the_earlier_results(
        council_page: tuple[Page, list[str]], tmp_path: Path) -> None:
    page, errors = council_page
    export = tmp_path / "sharegpt.json"
    write_sharegpt_export(export)
    page.goto("/discover")
    expect(page.locator("#rerun-form")).to_be_hidden()
    page.set_input_files("#upload-file", str(export))
    page.fill("#upload-clusters", "3")
    page.click("#upload-button")
    expect(page.locator("#result-section")).to_be_visible(timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#result-origin")).to_contain_text("Results of run #1 on sharegpt.json")
    expect(page.locator("#rerun-button")).to_have_text("Run again on sharegpt.json")
    expect(page.locator("#rerun-button")).to_be_enabled()

    too_large, empty, not_json = (tmp_path / name for name in
                                  ("big.json", "empty.json", "notes.json"))
    too_large.write_bytes(b"[" + b" " * (UPLOAD_LIMIT_MB * 1024 * 1024 + 100_000) + b"]")
    empty.write_bytes(b"")
    not_json.write_text("my notes, not an export", encoding="utf-8")
    for bad, says in ((too_large, "larger than the upload limit"), (empty, "empty"),
                      (not_json, "notes.json is not a chat export")):
        page.set_input_files("#upload-file", str(bad))
        page.click("#upload-button")
        expect(page.locator("#discover-error")).to_contain_text(says)
        expect(page.locator("#result-section")).to_be_hidden()
        expect(page.locator("#progress-section")).to_be_hidden()
        expect(page.locator("#run-file")).to_contain_text(f"The upload of {bad.name} failed")
        expect(page.locator("#rerun-button")).to_be_disabled()
        expect(page.locator("#rerun-button")).to_have_text("Run again")
        # submitting the form anyway (Enter in a field of another browser) starts nothing
        page.eval_on_selector("#rerun-form", "form => form.requestSubmit()")
        expect(page.locator("#earlier-results")).to_be_visible()
    assert page.request.get("/api/jobs/2").status == 404, "no run started after run #1"

    page.click("#show-earlier")
    expect(page.locator("#result-section")).to_be_visible()
    origin = page.locator("#result-origin")
    expect(origin).to_contain_text("Earlier results")
    expect(origin).to_contain_text("run #1 on sharegpt.json")
    expect(origin).to_have_class("warning")
    expect(page.locator("#rerun-button")).to_be_disabled()
    assert not only_refused_uploads(errors), errors


@pytest.mark.browser
def test_a_failed_run_shows_its_failure_not_the_earlier_results(
        council_page: tuple[Page, list[str]], tmp_path: Path,
        embedder: SentenceEmbedder) -> None:
    page, errors = council_page
    export = tmp_path / "sharegpt.json"
    write_sharegpt_export(export)
    discover_before(tmp_path / "data", export, embedder)
    broken = tmp_path / "broken.json"
    broken.write_text(NO_USER_MESSAGES, encoding="utf-8")

    page.goto("/discover")
    expect(page.locator("#result-origin")).to_contain_text("a run outside this page")
    page.set_input_files("#upload-file", str(broken))
    page.click("#upload-button")
    outcome = page.locator("#job-outcome")
    expect(outcome).to_be_visible(timeout=JOB_TIMEOUT_MS)

    def shows_the_failure() -> None:
        expect(outcome).to_contain_text("Run #1 on broken.json failed")
        expect(outcome).to_contain_text("no messages written by the user")
        expect(page.locator("#job-outcome-advice")).to_contain_text("upload")
        expect(page.locator("#progress-label")).to_have_text("failed")
        expect(page.locator("#result-section")).to_be_hidden()
        expect(page.locator("#run-file")).to_contain_text("The last run on broken.json failed")
        expect(page.locator("#rerun-button")).to_be_disabled()
        expect(page.locator("#earlier-results")).to_be_visible()

    shows_the_failure()
    page.screenshot(path=str(SCREENSHOTS / "discover-failed-run.png"), full_page=True)
    page.reload()  # the page opens on the last job's outcome, not on the older results
    shows_the_failure()
    page.click("#show-earlier")
    expect(page.locator("#result-section")).to_be_visible()
    expect(page.locator("#result-origin")).to_contain_text("Earlier results")
    expect(page.locator("#result-origin")).to_contain_text("a run outside this page")
    expect(page.locator("#cluster-cards .cluster-card")).to_have_count(3)
    assert not errors, errors


@pytest.mark.browser
def test_long_sample_messages_are_cut_with_show_more(council_page: tuple[Page, list[str]],
                                                     tmp_path: Path,
                                                     embedder: SentenceEmbedder) -> None:
    page, errors = council_page
    export = tmp_path / "long.json"
    write_long_export(export)
    discover_before(tmp_path / "data", export, embedder)
    full = page.request.get("/api/discover/result").json()["clusters"][0]["representatives"][0]
    assert len(full) > 600

    page.goto("/discover")
    card = page.locator("#cluster-cards .cluster-card").first
    samples = card.locator(".samples li")
    expect(samples).to_have_count(3)
    for text in samples.locator(".sample-text").all_text_contents():
        assert len(text) <= 301 and text.endswith("…"), text
    first = samples.first
    shown = first.locator(".sample-text")
    assert full.startswith(shown.inner_text().removesuffix("…").rstrip())
    collapsed = card.bounding_box()["height"]
    page.screenshot(path=str(SCREENSHOTS / "discover-samples.png"), full_page=True)

    toggle = first.locator(".show-more")
    expect(toggle).to_have_text("show more")
    toggle.click()
    expect(shown).to_have_text(full)
    expect(toggle).to_have_text("show less")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    assert card.bounding_box()["height"] > collapsed
    toggle.click()
    expect(toggle).to_have_text("show more")
    assert len(shown.inner_text()) <= 301
    assert not errors, errors
