"""A compare round in Chromium on the embedded engine with the bundled model: the council answer
and the synthesizer model alone appear as A and B only once both are complete, unnamed; a
verdict is stored and reveals who was who, and the Leaderboard counts it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from council.models import Comparison, Round, as_utc
from tests.browser import SCREENSHOTS

ROUND_TIMEOUT_MS = 180_000
MODEL = "SmolLM2-135M-Instruct.Q4_1"

# What the page showed, after every change inside the round: the council answer's status (its
# section streams hidden in a compare round) and whether the pair was on screen, with when.
RECORD_TIMELINE = """() => {
  window.compareTimeline = [];
  new MutationObserver(() => {
    const round = document.querySelector("article.round");
    if (!round) return;
    window.compareTimeline.push({
      at: Date.now(), synth: round.querySelector("section.synthesis").dataset.status || "",
      pairShown: !round.querySelector(".compare-pair").hidden,
      identities: [...round.querySelectorAll(".compare-identity")].map((e) => e.textContent)
        .join("")});
  }).observe(document.getElementById("thread"), {subtree: true, childList: true,
                                                  attributes: true, characterData: true});
}"""


@pytest.fixture
def app_args() -> list[str]:
    return []  # no --demo: the embedded engine


@pytest.fixture
def app_env() -> dict[str, str]:
    # Nothing listens on port 9, so `auto` falls back to the engine; one worker and short
    # answers keep the round quick.
    return {"OLLAMA_HOST": "http://127.0.0.1:9", "COUNCIL_ROUTER_TOP_K": "1",
            "COUNCIL_NUM_PREDICT": "32"}


def stored(data_dir: Path) -> tuple[Round, Comparison]:
    engine = create_engine(f"sqlite:///{data_dir / 'council.db'}")
    try:
        with Session(engine, expire_on_commit=False) as session:
            comparison = session.scalars(select(Comparison)).one()
            return session.get(Round, comparison.round_id), comparison
    finally:
        engine.dispose()


def synthesis_finished(data_dir: Path, round_id: int) -> datetime:
    engine = create_engine(f"sqlite:///{data_dir / 'council.db'}")
    try:
        with Session(engine) as session:
            return as_utc(session.get(Round, round_id).synthesis.finished_at)
    finally:
        engine.dispose()


@pytest.mark.browser
def test_a_compare_round_on_the_embedded_engine(council_page: tuple[Page, list[str]],
                                                 tmp_path: Path) -> None:
    page, errors = council_page
    data_dir = tmp_path / "data"
    page.goto("/")
    expect(page.locator("#compare")).not_to_be_checked()  # COUNCIL_COMPARE is off
    page.check("#compare")
    page.evaluate(RECORD_TIMELINE)
    page.fill("#question", "What should I check before deploying a web app?")
    page.press("#question", "Enter")

    round_ = page.locator("article.round")
    compare = round_.locator("section.compare")
    expect(compare.locator(".compare-waiting")).to_be_visible(timeout=ROUND_TIMEOUT_MS)
    expect(compare.locator(".compare-pair")).to_be_hidden()
    expect(round_).to_have_attribute("data-status", "done", timeout=ROUND_TIMEOUT_MS)
    expect(compare.locator(".compare-pair")).to_be_visible()
    expect(compare.locator(".compare-waiting")).to_be_hidden()

    round_row, comparison = stored(data_dir)
    assert comparison.status == "done" and comparison.model == MODEL
    timeline = page.evaluate("window.compareTimeline")
    shown = next(entry for entry in timeline if entry["pairShown"])
    assert any(not entry["pairShown"] for entry in timeline), "it waited for both answers"
    assert shown["synth"] == "done" and not shown["identities"], "names hidden"
    shown_at = datetime.fromtimestamp(shown["at"] / 1000, tz=UTC)
    assert shown_at >= as_utc(comparison.finished_at), "the solo answer was complete"
    assert shown_at >= synthesis_finished(data_dir, round_row.id), "and so was the council's"

    sides = {side: compare.locator(f'.compare-side[data-side="{side}"]') for side in "AB"}
    for side in sides.values():
        expect(side.locator(".compare-identity")).to_have_text("")
        assert side.locator(".body").inner_text().strip()
    council = comparison.council_position
    solo = "B" if council == "A" else "A"
    assert sides[solo].locator(".body").text_content() == page.evaluate(
        "(t) => { const d = document.createElement('div'); renderMarkdown(d, t);"
        " return d.textContent; }", comparison.text), "the solo answer on its drawn side"
    expect(round_.locator("section.synthesis")).to_be_hidden()  # it would tell them apart
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "compare-pair.png"), full_page=True)

    page.get_by_role("button", name="A is better").click()
    expect(sides[council].locator(".compare-identity")).to_have_text("· the council answer")
    expect(sides[solo].locator(".compare-identity")).to_have_text(f"· {MODEL} alone")
    expect(page.get_by_role("button", name="A is better")).to_have_attribute("aria-pressed", "true")
    expect(round_.locator("section.synthesis")).to_be_visible()
    assert stored(data_dir)[1].verdict == ("council" if council == "A" else "solo")

    conversation_url = page.url
    page.goto("/leaderboard")
    section = page.locator("#council-vs-solo")
    expect(section.locator("td.verdicts")).to_have_text("1")
    expect(section.locator(".provisional")).to_be_visible()

    page.goto(conversation_url)  # the judged pair as it was left; the verdict can change
    expect(sides[council].locator(".compare-identity")).to_have_text("· the council answer")
    page.get_by_role("button", name="Tie").click()
    expect(page.get_by_role("button", name="Tie")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="A is better")).to_have_attribute("aria-pressed",
                                                                            "false")
    assert stored(data_dir)[1].verdict == "tie"
    assert errors == []
