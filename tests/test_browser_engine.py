"""`run.py` with no Ollama running, as on a fresh machine: the embedded llama.cpp engine answers
with the bundled model, and a person sees a real-model round in Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser import SCREENSHOTS

SCREENSHOT = SCREENSHOTS / "engine-round.png"
ROUND_TIMEOUT_MS = 180_000


@pytest.fixture
def app_args() -> list[str]:
    return []  # no --demo


@pytest.fixture
def app_env() -> dict[str, str]:
    # Nothing listens on port 9, so `auto` falls back to the engine; short answers keep it quick.
    return {"OLLAMA_HOST": "http://127.0.0.1:9", "COUNCIL_ROUTER_TOP_K": "4",
            "COUNCIL_ROUTER_MIN_WEIGHT": "0", "COUNCIL_NUM_PREDICT": "64"}


@pytest.mark.browser
def test_a_round_on_the_embedded_engine(council_page: tuple[Page, list[str]]) -> None:
    page, errors = council_page
    page.goto("/")
    badge = page.locator("#engine-badge")
    expect(badge).to_have_text("llama.cpp · SmolLM2-135M-Instruct.Q4_1")
    expect(page.locator("#demo-badge")).to_have_count(0)

    page.fill("#question", "What should I check before deploying a web app?")
    page.press("#question", "Enter")
    round_ = page.locator("article.round")
    workers = round_.locator(".workers > section.worker")
    expect(workers).to_have_count(4, timeout=ROUND_TIMEOUT_MS)
    # the prompts take the model a moment: until its first token a card says it waits
    expect(workers.first.locator(".state")).to_have_text("waiting for the model…")
    expect(round_).to_have_attribute("data-status", "done", timeout=ROUND_TIMEOUT_MS)
    for card in workers.all():
        expect(card).to_have_attribute("data-status", "done")
        expect(card.locator(".model")).to_have_text("SmolLM2-135M-Instruct.Q4_1")
        assert card.locator(".body").inner_text().strip()
        assert "tok/s" in card.locator(".stats").inner_text()
    synthesis = round_.locator("section.synthesis")
    expect(synthesis).to_have_attribute("data-status", "done")
    assert synthesis.locator(".body").inner_text().strip()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    badge.click()
    expect(page.locator("#engine")).to_contain_text("SmolLM2-135M-Instruct.Q4_1")
    expect(page.locator("#bundled-note")).to_contain_text("135-million-parameter")
    expect(page.locator("#engine")).to_contain_text("ollama pull qwen2.5:3b")
    page.screenshot(path=str(SCREENSHOT.with_name("engine-status.png")), full_page=True)
    assert errors == []
