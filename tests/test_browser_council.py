"""The council page's rounds as chat-app users expect them, driven in Chromium: a reload or a
second tab mid-round keeps streaming and may stop it; stopped rounds can be judged; regenerate
and edit keep the old rounds a click away; the user can say who answers; blind voting hides
names until the vote. Each check fails if the page behaves the old way."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest
from playwright.sync_api import Page, expect

from tests.browser import PERSONAS, ROUND_TIMEOUT_MS, SCREENSHOTS, ask, expect_votes

REVEALED = re.compile(r"\brevealed\b")


@pytest.fixture
def app_args() -> list[str]:
    """Tokens slow enough that a round is still streaming when the test reloads or stops it."""
    return ["--demo", "--demo-token-delay", "0.04"]


def rendered(page: Page, markdown: str) -> str:
    """What the page shows for an answer's Markdown."""
    return page.evaluate("(t) => { const d = document.createElement('div'); renderMarkdown(d, t);"
                         " return d.textContent; }", markdown)


def stored_round(app_url: str, page: Page) -> dict:
    conversation = re.search(r"/c/(\d+)$", page.url).group(1)
    with urllib.request.urlopen(f"{app_url}/api/conversations/{conversation}") as response:
        return json.load(response)["rounds"][-1]


@pytest.mark.browser
def test_a_reload_mid_round_keeps_streaming_and_another_tab_can_stop(
        council_page: tuple[Page, list[str]], app_url: str) -> None:
    page, errors = council_page
    page.goto("/")
    ask(page, "How should a small team structure a Flask app that streams answers?", streaming=True)
    page.reload()
    round_ = page.locator("article.round").last
    first = round_.locator("section.worker .body").first
    expect(first).not_to_have_text("", timeout=ROUND_TIMEOUT_MS)  # the text so far, at once
    expect(round_).not_to_have_attribute("data-status", re.compile("."))
    expect(page.locator("#stop")).to_be_visible()
    expect(round_).to_have_attribute("data-status", "done", timeout=ROUND_TIMEOUT_MS)
    stored = stored_round(app_url, page)
    for card, worker in zip(round_.locator("section.worker").all(), stored["workers"], strict=True):
        assert card.locator(".body").text_content() == rendered(page, worker["text"]), \
            "the snapshot and the tokens after it make exactly the stored answer"

    ask(page, "Now write a long essay about websockets in Flask.", streaming=True)
    other = page.context.new_page()  # a second tab on the same conversation
    other_errors: list[str] = []
    other.on("pageerror", lambda error: other_errors.append(str(error)))
    other.goto(page.url)
    expect(other.locator("#stop")).to_be_visible(timeout=ROUND_TIMEOUT_MS)
    other.click("#stop")
    expect(other.locator("article.round").last).to_have_attribute(
        "data-status", "stopped", timeout=ROUND_TIMEOUT_MS)
    assert other_errors == []
    expect(page.locator("article.round").last).to_have_attribute("data-status", "stopped",
                                                                 timeout=ROUND_TIMEOUT_MS)
    expect(page.locator("#stop")).to_be_hidden()
    assert errors == []


@pytest.mark.browser
def test_a_stopped_round_is_judged_on_what_it_showed(council_page: tuple[Page, list[str]]) -> None:
    page, errors = council_page
    page.goto("/")
    round_ = ask(page, "Explain B-trees in depth, with examples.", streaming=True)
    page.click("#stop")
    expect(round_).to_have_attribute("data-status", "stopped", timeout=ROUND_TIMEOUT_MS)
    cards = round_.locator("section.worker").all()
    with_text = [i for i, card in enumerate(cards) if card.locator(".body").text_content().strip()]
    assert with_text, "the worker that streamed before the stop has text"
    for i, card in enumerate(cards):
        expect(card.locator(".votes")).to_be_visible() if i in with_text else expect(
            card.locator(".votes")).to_be_hidden()
    tie = round_.locator(".vote-tie")
    expect(tie).to_be_visible() if len(with_text) >= 2 else expect(tie).to_be_hidden()

    best = with_text[0]
    cards[best].locator(".vote-best").click()
    expect_votes(round_, best)
    cards[best].locator(".vote-down").click()
    expect_votes(round_, None, [best])  # thumbs down replaced the best vote
    cards[best].locator(".vote-best").click()
    expect_votes(round_, best)  # and best the thumbs down
    cards[best].locator(".vote-best").click()
    expect_votes(round_, None)  # the same vote again undoes it
    assert errors == []


@pytest.mark.browser
def test_regenerate_and_edit_keep_the_old_rounds(council_page: tuple[Page, list[str]]) -> None:
    page, errors = council_page
    page.goto("/")
    ask(page, "What is a B-tree?")
    second = ask(page, "How does it differ from a B+ tree?")
    old_answer = second.locator("section.synthesis .body").text_content()
    second.locator(".regenerate").click()
    rounds = page.locator("article.round")
    expect(rounds.last.locator(".branches .position")).to_have_text("2 / 2",
                                                                    timeout=ROUND_TIMEOUT_MS)
    expect(rounds.last).to_have_attribute("data-status", "done", timeout=ROUND_TIMEOUT_MS)
    expect(rounds).to_have_count(2)
    expect(rounds.last.locator(".user-message")).to_contain_text("B+ tree")
    rounds.last.locator(".branch-prev").click()
    expect(rounds.last.locator(".branches .position")).to_have_text("1 / 2")
    expect(rounds.last.locator("section.synthesis .body")).to_have_text(old_answer)
    page.reload()  # the branch shown is remembered
    expect(rounds.last.locator(".branches .position")).to_have_text("1 / 2")

    rounds.first.locator(".edit").click()
    editor = rounds.first.locator(".edit-form textarea")
    expect(editor).to_have_value("What is a B-tree?")
    editor.fill("What is a hash index?")
    editor.press("Enter")
    expect(rounds).to_have_count(1, timeout=ROUND_TIMEOUT_MS)
    expect(rounds.first.locator(".user-message")).to_contain_text("hash index")
    expect(rounds.first.locator(".branches .position")).to_have_text("2 / 2")
    expect(rounds.first).to_have_attribute("data-status", "done", timeout=ROUND_TIMEOUT_MS)
    page.screenshot(path=str(SCREENSHOTS / "council-branches.png"), full_page=True)
    rounds.first.locator(".branch-prev").click()
    expect(rounds).to_have_count(2)  # the old first question, with the branch it had
    expect(rounds.first.locator(".user-message")).to_contain_text("B-tree")
    assert errors == []


@pytest.mark.browser
def test_the_user_can_say_who_answers(council_page: tuple[Page, list[str]]) -> None:
    page, errors = council_page
    page.goto("/")
    page.click("#who-answers summary")
    page.check(".answer-persona[data-name='Skeptic']")
    expect(page.locator("#who-answers-summary")).to_have_text("Skeptic")
    chosen = ask(page, "Is it safe to cache every API response forever?")
    expect(chosen.locator("section.worker .name")).to_have_text(["Skeptic"])
    expect(chosen.locator(".routing .chosen")).to_be_visible()

    page.click("#who-answers summary")  # sending closed it
    page.uncheck(".answer-persona[data-name='Skeptic']")
    expect(page.locator("#who-answers-summary")).to_have_text("the router")
    mentioned = ask(page, "@Pragmatist @Explorer how do we ship this by Friday?")
    expect(mentioned.locator("section.worker .name")).to_have_count(2)
    assert set(mentioned.locator("section.worker .name").all_text_contents()) == {
        "Pragmatist", "Explorer"}
    page.click("#who-answers summary")
    page.check("#answer-everyone")
    everyone = ask(page, "What could go wrong?")
    expect(everyone.locator("section.worker")).to_have_count(4)
    assert errors == []


@pytest.mark.browser
def test_blind_voting_hides_who_answered_until_the_vote(council_page: tuple[Page, list[str]],
                                                         app_url: str) -> None:
    page, errors = council_page
    page.goto("/")
    page.check("#blind-voting")
    round_ = ask(page, "Which is better for a CLI, argparse or click?")
    cards = round_.locator("section.worker")
    expect(cards.first.locator(".blind-label")).to_have_text("Answer 1")
    for card in cards.all():
        expect(card.locator(".name")).to_be_hidden()
    expect(round_.locator(".routing")).to_be_hidden()
    council_answer = round_.locator("section.synthesis .body").text_content()
    assert council_answer.strip() and not any(name in council_answer for name in PERSONAS), \
        "the council answer names no one either"
    page.screenshot(path=str(SCREENSHOTS / "council-blind.png"), full_page=True)
    cards.first.locator(".vote-best").click()
    expect(round_).to_have_class(REVEALED)
    expect(cards.first.locator(".name")).to_be_visible()
    winner = cards.first.locator(".name").text_content()
    with urllib.request.urlopen(f"{app_url}/api/leaderboard") as response:
        rows = {row["name"]: row for row in json.load(response)}
    assert rows[winner]["blind_votes"] == 1 and rows[winner]["votes_received"] == 1
    page.reload()
    expect(page.locator("#blind-voting")).to_be_checked()  # the choice is remembered
    expect(page.locator("article.round").last).to_have_class(REVEALED)  # a judged round shows names
    assert errors == []
