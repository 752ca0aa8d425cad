"""The Leaderboard in Chromium: provisional ratings and blind votes, as a reader sees them.

Why: a rating from a handful of votes must say so, and since blind votes (names and colours
hidden until the vote) judge the answers rather than the names, the page must say how many of
each persona's votes were blind and rank the personas by those alone on request.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, selectinload

from council.models import Round, Vote
from tests.browser import PERSONAS, SCREENSHOTS, ask

BLIND_SCREENSHOT = SCREENSHOTS / "leaderboard-blind.png"


def _vote_best(data_dir: Path, winners: dict[int, tuple[str, bool]]) -> None:
    """Per round (by its place in the conversation), the persona voted best and whether the
    vote was blind, written into the app's database as the vote API stores them."""
    engine = create_engine(f"sqlite:///{data_dir / 'council.db'}")
    with Session(engine) as session, session.begin():
        rounds = session.scalars(select(Round).order_by(Round.id)
                                 .options(selectinload(Round.answers))).all()
        for place, (name, blind) in winners.items():
            answer = next(a for a in rounds[place].answers if a.persona_name == name)
            session.add(Vote(round_id=rounds[place].id, kind="best", answer_id=answer.id,
                             persona_id=answer.persona_id, weights={}, blind=blind))
    engine.dispose()


@pytest.mark.browser
@pytest.mark.parametrize("app_env", [{"COUNCIL_ROUTER_TOP_K": "4"}])
def test_leaderboard_marks_provisional_ratings_and_blind_votes(
        council_page: tuple[Page, list[str]], tmp_path: Path) -> None:
    page, errors = council_page
    page.goto("/")
    for question in ("Should we cache the API responses?", "Is a monorepo worth it?"):
        ask(page, question)
    _vote_best(tmp_path / "data", {0: ("Pragmatist", False), 1: ("Skeptic", True)})

    page.goto("/leaderboard")
    rows = page.locator("#leaderboard tbody tr")
    expect(rows).to_have_count(len(PERSONAS))
    expect(page.locator("#leaderboard-view [aria-current]")).to_have_text("every vote")
    for i in range(len(PERSONAS)):
        expect(rows.nth(i).locator("td.blind")).to_have_text("1 of 2")
        expect(rows.nth(i).locator(".provisional")).to_be_visible()

    page.get_by_role("link", name="blind votes only").click()
    expect(page).to_have_url(re.compile(r"/leaderboard\?votes=blind$"))
    expect(page.locator("#leaderboard-view [aria-current]")).to_have_text("blind votes only")
    expect(rows.first).to_contain_text("Skeptic")
    expect(rows.first.locator("td.votes")).to_have_text("1")
    for i in range(len(PERSONAS)):
        expect(rows.nth(i).locator("td.blind")).to_have_text("1 of 1")
    BLIND_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(BLIND_SCREENSHOT), full_page=True)

    page.get_by_role("link", name="every vote").click()
    expect(page.locator("#leaderboard-view [aria-current]")).to_have_text("every vote")
    assert errors == []
