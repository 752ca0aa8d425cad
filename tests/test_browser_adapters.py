"""The Training page on the embedded engine in Chromium, with the real bundled model: a person
prepares data (the model writes it), trains an adapter on the CPU, serves it in the engine,
and the next round answers through it, the card saying so."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser import SCREENSHOTS

SCREENSHOT = SCREENSHOTS / "training-engine.png"
JOB_TIMEOUT_MS = 300_000
STEPS = 6


@pytest.fixture
def app_args() -> list[str]:
    return []  # no --demo: nothing answers on OLLAMA_HOST, so the engine serves


@pytest.fixture
def app_env(tmp_path: Path, model_cache: Path) -> dict[str, str]:
    return {"OLLAMA_HOST": "http://127.0.0.1:9", "COUNCIL_ROUTER_TOP_K": "4",
            "COUNCIL_ROUTER_MIN_WEIGHT": "0", "COUNCIL_NUM_PREDICT": "40",
            "COUNCIL_LORAS_DIR": str(tmp_path / "loras"),
            # the GGUF base converted for training once per test session
            "COUNCIL_MODEL_CACHE": str(model_cache)}


@pytest.mark.browser
@pytest.mark.timeout(900)
def test_train_an_adapter_on_the_engine_and_the_next_round_uses_it(
        council_page: tuple[Page, list[str]]) -> None:
    page, errors = council_page
    page.goto("/training")
    card = page.locator(".training-card").first
    name = card.locator("h2").inner_text()
    expect(card.locator(".base-state")).to_have_text("Base: SmolLM2-135M-Instruct.Q4_1.gguf")
    expect(page.locator('[data-action="register"]').first).to_have_text("Serve in the engine")

    card.locator(".examples-input").fill("6")
    card.locator('[data-action="data"]').click()
    expect(card.locator(".job-label")).to_contain_text("Preparing data: done",
                                                       timeout=JOB_TIMEOUT_MS)
    card.locator(".steps-input").fill(str(STEPS))
    card.locator('[data-action="train"]').click()
    expect(card.locator(".job-label")).to_contain_text("Training: done", timeout=JOB_TIMEOUT_MS)
    expect(card.locator(".adapter-state")).to_contain_text(f"done: {STEPS} steps")

    card.locator('[data-action="register"]').click()
    expect(card.locator(".model-state")).to_contain_text("adapter.gguf", timeout=JOB_TIMEOUT_MS)
    # 6 pairs are too few to hold some out: no held-out figure, and the card says how to get one
    expect(card.locator(".data-state")).to_contain_text("no held-out split")
    expect(card.locator(".model-state")).to_contain_text("no held-out figure")
    expect(card.locator(".model-state")).not_to_contain_text("held-out loss")
    expect(card.locator('.variant-input[value="lora"]')).to_be_checked()
    expect(card.locator('.variant-input[value="mix"]')).to_be_enabled()
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.goto("/")
    page.fill("#question", "How do I plan a small garden?")
    page.press("#question", "Enter")
    round_ = page.locator("article.round")
    expect(round_).to_have_attribute("data-status", "done", timeout=JOB_TIMEOUT_MS)
    named = page.locator(".name", has_text=name)
    trained = round_.locator(".workers > section.worker").filter(has=named)
    expect(trained.locator(".model")).to_have_text("SmolLM2-135M-Instruct.Q4_1 · LoRA")
    expect(trained).to_have_attribute("data-status", "done")
    assert trained.locator(".body").inner_text().strip()
    others = round_.locator(".workers > section.worker").filter(has_not=named)
    expect(others.first.locator(".model")).to_have_text("SmolLM2-135M-Instruct.Q4_1")
    page.screenshot(path=str(SCREENSHOT.with_name("engine-lora-round.png")), full_page=True)
    assert errors == []
