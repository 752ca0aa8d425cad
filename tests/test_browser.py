"""End-to-end: the real `run.py --demo` process driven by headless Chromium.

Why: the Socket.IO tests prove the server emits the right events, but only a browser proves
that council.js turns them into a page a person can read: cards that fill in token by token,
a council answer, a conversation in the sidebar, and a round that comes back after a reload.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser import PERSONAS, ROUND_TIMEOUT_MS, SCREENSHOTS, ask, expect_votes

SCREENSHOT = SCREENSHOTS / "council-round.png"
VOTES_SCREENSHOT = SCREENSHOTS / "council-votes.png"
LEADERBOARD_SCREENSHOT = SCREENSHOTS / "leaderboard.png"
ANALYTICS_SCREENSHOT = SCREENSHOTS / "analytics.png"
QUESTION = "How should a small team structure a Flask app that streams answers over websockets?"

# Installed before the question is sent: remembers whether a worker card was ever seen
# still "running" while already showing text, i.e. tokens were rendered live. A
# MutationObserver cannot miss it the way a poll from Python could on a fast round.
WATCH_LIVE_TOKENS = """() => {
  window.__liveTokens = [];
  const thread = document.getElementById("thread");
  const check = () => {
    for (const card of thread.querySelectorAll("section.worker[data-status='running']")) {
      const text = card.querySelector(".body").textContent.trim();
      if (text) window.__liveTokens.push({name: card.querySelector(".name").textContent, text});
    }
  };
  new MutationObserver(check).observe(thread, {subtree: true, childList: true,
                                               characterData: true, attributes: true});
}"""


@pytest.mark.browser
@pytest.mark.parametrize("app_env", [{"COUNCIL_ROUTER_TOP_K": "4"}])
def test_round_streams_live_and_survives_reload(council_page: tuple[Page, list[str]]) -> None:
    page, errors = council_page
    page.goto("/")
    expect(page.locator("#demo-badge")).to_be_visible()
    expect(page.locator("#demo-badge")).to_have_text("demo backend")
    expect(page.locator("#thread-empty")).to_be_visible()

    page.evaluate(WATCH_LIVE_TOKENS)
    page.fill("#question", QUESTION)
    page.press("#question", "Enter")

    round_ = page.locator("article.round")
    workers = round_.locator(".workers > section.worker")
    expect(round_).to_have_count(1, timeout=ROUND_TIMEOUT_MS)
    expect(workers).to_have_count(4)
    expect(round_).to_have_attribute("data-status", "done", timeout=ROUND_TIMEOUT_MS)

    live = page.evaluate("window.__liveTokens")
    assert live, "no worker card was ever seen 'running' with text: tokens were not streamed live"

    names = workers.locator(".name").all_inner_texts()
    assert set(names) == PERSONAS and len(names) == 4
    final: dict[str, str] = {}
    for card in workers.all():
        expect(card).to_have_attribute("data-status", "done")
        name = card.locator(".name").inner_text()
        final[name] = card.locator(".body").text_content().strip()
        assert final[name], f"{name} finished with an empty body"
    assert any(len(seen["text"]) < len(final[seen["name"]]) for seen in live), \
        "the text seen while 'running' was never a partial answer"

    synthesis = round_.locator("section.synthesis")
    expect(synthesis).to_be_visible()
    expect(synthesis).to_have_attribute("data-status", "done")
    synthesis_text = synthesis.locator(".body").inner_text().strip()
    assert synthesis_text

    expect(page.locator("#question")).to_have_value("")
    expect(page.locator("#send")).to_be_enabled()
    expect(page.locator("#stop")).to_be_hidden()
    expect(page.locator("#conversation-list li").first).to_contain_text(
        " ".join(QUESTION.split()[:4]))
    assert page.locator("#conversation-list li").first.inner_text().startswith(
        " ".join(QUESTION.split()[:4]))

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.is_file() and SCREENSHOT.stat().st_size > 0

    page.reload()
    expect(round_).to_have_count(1)
    expect(round_).to_have_attribute("data-status", "done")
    expect(workers).to_have_count(4)
    assert set(workers.locator(".name").all_inner_texts()) == PERSONAS
    expect(synthesis).to_be_visible()
    assert synthesis.locator(".body").inner_text().strip() == synthesis_text

    assert errors == []


# --- the router's choice and the votes, as a person sees them --------------------------------

TOP_K = 3
VOTE_QUESTION = "Should we rewrite our billing service in Rust, or is that too risky?"
FOLLOW_UP = "What would you measure first to decide?"


@pytest.mark.browser
@pytest.mark.parametrize("app_env", [{"COUNCIL_ROUTER_TOP_K": str(TOP_K)}])
def test_router_chart_and_votes(council_page: tuple[Page, list[str]]) -> None:
    page, errors = council_page
    page.goto("/")
    # The first load has run selectConversation(null): a round added now is not wiped.
    expect(page.locator("#conversation-empty")).to_be_visible()

    round_ = ask(page, VOTE_QUESTION)
    cards = round_.locator(".workers > section.worker")
    expect(cards).to_have_count(TOP_K)
    names = cards.locator(".name").all_inner_texts()
    assert len(set(names)) == TOP_K and set(names) < PERSONAS

    # The router's weights: every persona has a bar; the ones that speak are the cards shown.
    routing = round_.locator("section.routing")
    expect(routing).to_be_visible()
    bars = routing.locator(".bars li")
    expect(bars).to_have_count(len(PERSONAS))
    expect(routing.locator(".bars li.selected")).to_have_count(TOP_K)
    expect(routing.locator(".bars li.unselected")).to_have_count(len(PERSONAS) - TOP_K)
    assert set(routing.locator(".bars li.selected .bar-name").all_inner_texts()) == set(names)
    assert set(bars.locator(".bar-name").all_inner_texts()) == PERSONAS
    for bar in bars.all():
        title = bar.get_attribute("title") or ""
        assert bar.locator(".bar-name").inner_text() in title and "similarity" in title, title
    percents = [int(v.rstrip("%")) for v in bars.locator(".bar-value").all_inner_texts()]
    assert abs(sum(percents) - 100) <= 2, percents

    # Votes: best moves from the second card to the first; a thumbs down on the third.
    for card in cards.all():
        expect(card.locator(".vote-best")).to_be_visible()
        expect(card.locator(".vote-down")).to_be_visible()
    cards.nth(1).locator(".vote-best").click()
    expect_votes(round_, best=1)
    cards.nth(0).locator(".vote-best").click()
    expect_votes(round_, best=0)
    cards.nth(2).locator(".vote-down").click()
    expect_votes(round_, best=0, down={2})

    page.reload()  # the votes come back from the database
    round_ = page.locator("article.round")
    expect(round_).to_have_count(1)
    expect(round_).to_have_attribute("data-status", "done")
    assert round_.locator(".workers > section.worker .name").all_inner_texts() == names
    expect_votes(round_, best=0, down={2})
    VOTES_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(VOTES_SCREENSHOT), full_page=True)

    conversation_url = page.url  # the conversation's own address, /c/<id>
    page.goto("/leaderboard")
    first_row = page.locator("#leaderboard tbody tr").first
    expect(first_row).to_contain_text(names[0])
    expect(first_row.locator("td.votes")).to_have_text("1")
    page.screenshot(path=str(LEADERBOARD_SCREENSHOT), full_page=True)

    # Keyboard: "2" marks the second card of the latest round, when not typing.
    page.goto(conversation_url)
    expect(page.locator("article.round")).to_have_count(1)
    latest = ask(page, FOLLOW_UP)
    latest.locator(".user-message").click()
    expect(page.locator("#question")).not_to_be_focused()
    page.keyboard.press("2")
    expect_votes(latest, best=1)
    expect(page.locator("#question")).to_have_value("")
    expect_votes(page.locator("article.round").first, best=0, down={2})

    # Analytics: both rounds charted, the vote in the ratings, a similarity table.
    page.goto("/analytics")
    expect(page.locator("#analytics-status")).to_be_hidden(timeout=ROUND_TIMEOUT_MS)
    expect(page.locator("#analytics-error")).to_be_hidden()
    for canvas in ("#utilisation-chart", "#entropy-chart", "#leaderboard-chart"):
        expect(page.locator(canvas)).to_be_visible()
    expect(page.locator("#similarity-table tbody tr")).to_have_count(4)
    page.screenshot(path=str(ANALYTICS_SCREENSHOT), full_page=True)
    assert ANALYTICS_SCREENSHOT.stat().st_size > 0

    assert errors == []
