"""Hostile text everywhere it can enter, rendered in headless Chromium: nothing runs, nothing
is injected, everything reads as text.

Payloads go in through a persona's name, description and prompt (Personas form), a question
(which becomes the conversation title), a model answer (the demo server's `echo` model answers
with the question verbatim) and an uploaded chat export (Discover cards). Each payload would set
`window.__xss` or add an element if it were interpreted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

SCRIPT = "<script>window.__xss = 'script'</script>"
IMG = "<img src=x onerror=\"window.__xss = 'img'\">"
LINK = "[click me](javascript:window.__xss='link')"
HTML_IN_MD = ("<div onmouseover=\"window.__xss='div'\">hover</div> "
              "<svg onload=\"window.__xss='svg'\"></svg>")
PAYLOAD = f"Hostile {SCRIPT} {IMG} {LINK} {HTML_IN_MD}"
CHECK_NOTHING_RAN = """() => ({
  ran: window.__xss === undefined ? null : window.__xss,
  imgs: document.querySelectorAll('main img, .round img, .cluster-card img').length,
  handlers: document.querySelectorAll('[onerror],[onload],[onmouseover]').length,
  jsLinks: document.querySelectorAll('a[href^="javascript"]').length,
  hostileScripts: [...document.scripts].filter(s => s.textContent.includes('__xss')).length,
})"""
CLEAN = {"ran": None, "imgs": 0, "handlers": 0, "jsLinks": 0, "hostileScripts": 0}


@pytest.fixture
def app_env() -> dict[str, str]:
    return {"COUNCIL_ROUTER_TOP_K": "5", "COUNCIL_ROUTER_MIN_WEIGHT": "0"}


def hostile_export(path: Path) -> None:
    """A ShareGPT export whose every user message carries the payloads after a question."""
    topics = ["python error in my loop", "a poem about the sea", "plan a trip to Rome"]
    records = []
    for n in range(24):
        text = f"Question {n} about {topics[n % 3]} {PAYLOAD}"
        records.append({"id": f"c{n}_0", "conversations": [
            {"from": "human", "value": text}, {"from": "gpt", "value": "An answer."}]})
    path.write_text(json.dumps(records), encoding="utf-8")


@pytest.mark.browser
def test_hostile_text_renders_as_text(council_page: tuple[Page, list[str]],
                                      tmp_path: Path) -> None:
    page, errors = council_page

    page.goto("/personas/new")
    page.fill("input[name=name]", f"Evil {IMG}"[:80])
    page.fill("input[name=description]", PAYLOAD)
    page.fill("textarea[name=system_prompt]", f"You are {SCRIPT} {IMG}")
    page.select_option("#model-choice", "other")  # a typed model name
    page.fill("#model-input", "echo")
    page.click("form.persona-form button[type=submit]")
    expect(page.locator("table.personas")).to_contain_text("Evil <img src=x")
    assert page.evaluate(CHECK_NOTHING_RAN) == CLEAN

    page.goto("/")
    page.fill("#question", PAYLOAD)
    page.press("#question", "Enter")
    round_ = page.locator("article.round")
    expect(round_).to_have_attribute("data-status", "done", timeout=60_000)
    echo = round_.locator("section.worker", has=page.locator(".name", has_text="Evil"))
    expect(echo).to_have_count(1)
    body = echo.locator(".body")
    expect(body).to_contain_text("<script>window.__xss = 'script'</script>")
    expect(body).to_contain_text("<img src=x onerror")
    expect(body).to_contain_text("click me")
    expect(echo.locator(".name")).to_contain_text("<img src=x")
    expect(page.locator("#conversation-list li").first).to_contain_text("Hostile <script>")
    expect(round_.locator(".user-message")).to_contain_text("<script>")
    assert page.evaluate(CHECK_NOTHING_RAN) == CLEAN
    page.reload()
    expect(round_).to_have_attribute("data-status", "done")
    assert page.evaluate(CHECK_NOTHING_RAN) == CLEAN

    export = tmp_path / "hostile.json"
    hostile_export(export)
    page.goto("/discover")
    page.set_input_files("#upload-file", str(export))
    page.fill("#upload-clusters", "2")
    page.click("#upload-button")
    expect(page.locator("#result-section")).to_be_visible(timeout=120_000)
    cards = page.locator("#cluster-cards .cluster-card")
    expect(cards).to_have_count(2)
    expect(cards.first.locator(".samples")).to_contain_text("<img src=x onerror")
    assert page.evaluate(CHECK_NOTHING_RAN) == CLEAN
    assert not errors, errors
