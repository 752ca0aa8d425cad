"""The Training page in headless Chromium against the real `run.py --demo` process.

Prepare data for a shipped persona (answers from the demo synthesizer), train a tiny Qwen2
adapter from the page, watch the progress bar and the loss chart grow, see it finish, register
it and switch the persona between its adapter and prompt-only.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser import SCREENSHOTS

TRAINING_SCREENSHOT = SCREENSHOTS / "training.png"
JOB_TIMEOUT_MS = 120_000
STEPS = 150


@pytest.fixture
def app_env(tiny_base_model: Path, tmp_path: Path) -> dict[str, str]:
    return {"COUNCIL_TRAIN_BASE_MODEL": str(tiny_base_model),
            "COUNCIL_LORAS_DIR": str(tmp_path / "loras")}


@pytest.mark.browser
def test_train_from_the_page(council_page: tuple[Page, list[str]]) -> None:
    page, errors = council_page
    page.goto("/training")
    expect(page.locator("#training-check")).to_contain_text("No GPU training here")
    card = page.locator(".training-card").first
    expect(card.locator(".data-state")).to_have_text("no training pairs yet")
    expect(card.locator('[data-action="train"]')).to_be_disabled()

    card.locator(".examples-input").fill("4")
    card.locator('[data-action="data"]').click()
    expect(card.locator(".job-label")).to_contain_text("Preparing data: done",
                                                       timeout=JOB_TIMEOUT_MS)
    expect(card.locator(".data-state")).to_contain_text("pairs")

    card.locator(".steps-input").fill(str(STEPS))
    card.locator('[data-action="train"]').click()
    expect(card.locator(".job-label")).to_contain_text("Training: training",
                                                       timeout=JOB_TIMEOUT_MS)
    page.wait_for_function("() => { const c = Chart.getChart(document.querySelector("
                           "'.training-card .loss-chart')); return c && "
                           "c.data.datasets[0].data.length >= 2; }", timeout=JOB_TIMEOUT_MS)
    early = card.locator(".progress-fill").evaluate("e => parseFloat(e.style.width)")
    expect(card.locator(".job-label")).to_contain_text("Training: done", timeout=JOB_TIMEOUT_MS)
    assert card.locator(".progress-fill").evaluate("e => e.style.width") == "100%"
    assert early < 100
    points = page.evaluate("() => Chart.getChart(document.querySelector("
                           "'.training-card .loss-chart')).data.datasets[0].data.length")
    assert points == STEPS
    expect(card.locator(".adapter-state")).to_contain_text(f"done: {STEPS} steps")

    expect(card.locator(".serve-plan")).to_contain_text(
        "Ollama 0.12.6-demo at http://127.0.0.1:")  # said before it starts
    expect(card.locator(".serve-plan")).to_contain_text("the adapter on the worker model")
    expect(card.locator('[data-action="register"]')).to_have_text("Register with Ollama")
    card.locator('[data-action="register"]').click()
    expect(card.locator(".model-state")).to_contain_text("persona-", timeout=JOB_TIMEOUT_MS)
    expect(card.locator(".model-state")).to_contain_text("adapter model on http://127.0.0.1:")
    expect(card.locator(".variant-state")).to_have_text("answers with its adapter")
    expect(card.locator('.variant-input[value="lora"]')).to_be_checked()
    card.locator('.variant-input[value="prompt"]').check()
    expect(card.locator(".variant-state")).to_have_text("answers prompt-only")
    page.screenshot(path=str(TRAINING_SCREENSHOT), full_page=True)
    assert not errors, errors
