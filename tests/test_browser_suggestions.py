"""The Analytics page's suggestions in Chromium: the evidence shows, and each button does its job.

Why: a suggestion is only worth something if a person can see why it is made and act on it in
one click (and a confirmation where it disables a persona): merging two personas that answer
alike disables one (the Personas page says so), and growing from the questions the router was
unsure about starts discovery on just those, whose result the Discover page shows to review.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from tests.browser import ROUND_TIMEOUT_MS, SCREENSHOTS
from tests.suggestion_rows import UNSURE, UNSURE_WEIGHTS, answer_alike, route

SUGGESTIONS_SCREENSHOT = SCREENSHOTS / "analytics-suggestions.png"
JOB_TIMEOUT_MS = 120_000


def write_history(data_dir: Path) -> None:
    """In the app's database: ten rounds where the first two personas give the same answer
    (the second voted best each time), and nine questions the router was unsure about."""
    engine = create_engine(f"sqlite:///{data_dir / 'council.db'}")
    with Session(engine) as session, session.begin():
        answer_alike(session, best=1)
        route(session, UNSURE, UNSURE_WEIGHTS)
    engine.dispose()


@pytest.mark.browser
def test_suggestions_show_their_evidence_and_their_actions_work(
        council_page: tuple[Page, list[str]], tmp_path: Path) -> None:
    page, errors = council_page
    page.goto("/personas/")
    names = page.locator("table.personas tbody tr td:first-child strong").all_inner_texts()
    dropped, kept = names[0], names[1]
    write_history(tmp_path / "data")

    page.goto("/analytics")
    cards = page.locator("#suggestions li.suggestion")
    # the first visit loads the sentence embedder and embeds the answers
    expect(cards).to_have_count(2, timeout=ROUND_TIMEOUT_MS)
    grow, merge = cards.nth(0), cards.nth(1)
    expect(grow).to_have_attribute("data-kind", "grow")
    expect(grow.locator("h3")).to_contain_text("A new persona for 9 questions no persona suits")
    expect(grow.locator(".suggestion-figures")).to_contain_text("9 of 9 (100%)")
    expect(grow.locator(".suggestion-figures")).to_contain_text("30% (an even split: 25%)")
    expect(grow.locator(".suggestion-questions li")).to_have_count(5)
    expect(grow.locator(".suggestion-questions")).to_contain_text(UNSURE[-1])
    expect(merge).to_have_attribute("data-kind", "merge")
    expect(merge.locator("h3")).to_contain_text(f"Merge {dropped} into {kept}")
    expect(merge.locator(".suggestion-figures")).to_contain_text("1.00 (flagged from 0.90)")
    expect(merge.locator(".suggestion-figures")).to_contain_text(
        "10 shared questions, answers alike on 10 (100%, 95% CI 72–100%)")
    page.screenshot(path=str(SUGGESTIONS_SCREENSHOT), full_page=True)

    merge.get_by_role("button", name=f"Merge: keep {kept}, disable {dropped}").click()
    confirm = merge.locator(".suggestion-confirm")
    expect(confirm).to_contain_text(f"Disable {dropped}?")  # nothing is posted before Yes
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_have_count(0)
    merge.get_by_role("button", name=f"Merge: keep {kept}, disable {dropped}").click()
    yes = merge.get_by_role("button", name=f"Yes: Merge: keep {kept}, disable {dropped}")
    expect(yes).to_be_focused()
    yes.click()
    result = page.locator("#suggestions-result")
    expect(result).to_contain_text(f"Merged {dropped} into {kept}", timeout=ROUND_TIMEOUT_MS)
    expect(result).to_contain_text(f"{dropped} is disabled")
    expect(cards).to_have_count(1, timeout=ROUND_TIMEOUT_MS)  # fetched again: handled
    expect(cards.first).to_have_attribute("data-kind", "grow")

    cards.first.get_by_role("button", name="Discover personas from these 9 questions").click()
    expect(result).to_contain_text("Discovery started on 9 questions",
                                   timeout=ROUND_TIMEOUT_MS)
    expect(cards).to_have_count(0, timeout=ROUND_TIMEOUT_MS)
    expect(page.locator("#suggestions-empty")).to_be_visible()

    result.get_by_role("link", name="Open Discover").click()
    expect(page).to_have_url(re.compile(r"/discover$"))
    expect(page.locator("#result-section")).to_be_visible(timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#result-origin")).to_contain_text("unsure-questions-")
    expect(page.locator("#cluster-cards .cluster-card")).to_have_count(2)

    page.goto("/personas/")
    rows = page.locator("table.personas tbody tr")
    expect(rows.nth(0)).to_contain_text(dropped)
    expect(rows.nth(0)).to_have_class(re.compile(r"\bdisabled\b"))  # disabled, not deleted
    expect(rows.nth(1)).to_contain_text(kept)
    expect(rows.nth(1)).not_to_have_class(re.compile(r"\bdisabled\b"))
    assert not errors, errors
