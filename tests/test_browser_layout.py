"""The council page as people who use chat apps expect it, driven in Chromium.

Why: the page must keep its frame in a long conversation (only the thread scrolls, and it
follows new text unless the reader scrolled up), work on a phone (no sideways scrolling, the
list as a drawer), give every conversation an address, rename inline, search, export, render
the user's own Markdown, fold the workers' answers once the council answer is there, and follow
the system's light or dark setting. Each check fails if the page does it the old way.
"""

from __future__ import annotations

import itertools
import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser import OVERFLOWING, ask, shoot

WIDE = {"width": 1400, "height": 900}
PHONE = {"width": 420, "height": 860}
NEAR_BOTTOM_PX = 48  # thread_follow.js: closer than this to the bottom counts as following
DARK_BG, LIGHT_BG = "rgb(15, 18, 23)", "rgb(245, 246, 248)"  # app.css's --bg in each theme
CONVERSATION_URL = re.compile(r"/c/(\d+)$")

QUESTIONS = [
    "How should a small team structure a Flask app that streams answers?",
    "What is the best way to test a websocket handler?",
    "Should we keep SQLite or move to PostgreSQL for a local tool?",
    "How do we version a database schema with Alembic?",
    "What makes a good error message for an API?",
    "How can a page stay fast while tokens stream in?",
    "When is a background thread better than a subprocess?",
    "How would you explain Bradley-Terry ratings to a new user?",
]

# The thread's scroll position and whether the frame around it holds, read in one go.
FRAME = """() => {
  const thread = document.getElementById("thread");
  const box = (id) => document.getElementById(id).getBoundingClientRect().toJSON();
  return {distance: thread.scrollHeight - thread.scrollTop - thread.clientHeight,
          threadScrolls: thread.scrollHeight > thread.clientHeight, scrollTop: thread.scrollTop,
          pageHeight: document.scrollingElement.scrollHeight, viewportHeight: innerHeight,
          question: box("question"), topbar: document.querySelector(".topbar").getBoundingClientRect().toJSON(),
          search: box("conversation-search")};
}"""

# When the next round appears, scroll the thread to its top as a reader would (the scroll event
# is dispatched at once, as the browser's own comes a frame later), and remember how tall the
# thread was then: text that arrives afterwards must not pull the reader down.
SCROLL_UP_WHEN_NEXT_ROUND_STARTS = """() => {
  const thread = document.getElementById("thread");
  const before = thread.querySelectorAll("article.round").length;
  window.__scrolledUp = null;
  const observer = new MutationObserver(() => {
    if (thread.querySelectorAll("article.round").length === before) return;
    observer.disconnect();
    thread.scrollTop = 0;
    thread.dispatchEvent(new Event("scroll"));
    window.__scrolledUp = {height: thread.scrollHeight};
  });
  observer.observe(thread, {childList: true});
}"""


@pytest.fixture
def app_args() -> list[str]:
    """The demo backend with no delay between tokens: rounds finish as fast as the app can."""
    return ["--demo", "--demo-token-delay", "0"]


def conversation_id(page: Page) -> int:
    expect(page).to_have_url(CONVERSATION_URL)
    match = CONVERSATION_URL.search(page.url)
    assert match
    return int(match.group(1))


def api(page: Page, path: str) -> Any:
    response = page.request.get(path)
    assert response.ok, (path, response.status)
    return response.json()


def list_item(page: Page, conversation: int) -> Locator:
    return page.locator(f"#conversation-list li[data-conversation-id='{conversation}']")


def expect_theme(page: Page, scheme: str, background: str) -> None:
    page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
    expect(page.locator("body")).to_have_css("background-color", background)


@pytest.mark.browser
def test_a_long_conversation_keeps_its_frame_and_the_phone_layout_works(
        council_page: tuple[Page, list[str]]) -> None:
    page, errors = council_page
    page.set_viewport_size(WIDE)
    page.goto("/")
    for question in QUESTIONS:
        ask(page, question)

    # Eight rounds: the page itself does not scroll, the thread does, and it followed the text.
    frame = page.evaluate(FRAME)
    assert frame["pageHeight"] <= frame["viewportHeight"], frame
    assert frame["threadScrolls"], frame
    assert frame["question"]["top"] >= 0 and frame["question"]["bottom"] <= WIDE["height"], frame
    assert frame["topbar"]["top"] == 0 and frame["search"]["bottom"] <= WIDE["height"], frame
    assert frame["distance"] <= NEAR_BOTTOM_PX, frame
    expect(page.locator("#jump-latest")).to_be_hidden()
    expect(page.locator("#question")).to_be_in_viewport()
    expect(page.locator("#conversation-list li").first).to_be_in_viewport()

    expect_theme(page, "dark", DARK_BG)
    shoot(page, "council-1400-dark.png")
    expect_theme(page, "light", LIGHT_BG)
    expect(page.locator(".topbar")).not_to_have_css("background-color", "rgb(23, 27, 34)")
    shoot(page, "council-1400-light.png")

    # A reader who scrolled up stays where they are while the next round streams in.
    page.evaluate(SCROLL_UP_WHEN_NEXT_ROUND_STARTS)
    ask(page, "One more: what should we measure first?")
    scrolled_up = page.evaluate("window.__scrolledUp")
    assert scrolled_up, "the next round never appeared"
    frame = page.evaluate(FRAME)
    assert frame["scrollTop"] == 0, frame
    assert page.evaluate("document.getElementById('thread').scrollHeight") > scrolled_up["height"], \
        "no text arrived after the reader scrolled up, so nothing was proved"
    jump = page.locator("#jump-latest")
    expect(jump).to_be_visible()
    jump.click()
    expect(jump).to_be_hidden()
    assert page.evaluate(FRAME)["distance"] <= NEAR_BOTTOM_PX

    # A phone: nothing reaches past the right edge, the list is a drawer, the cards stack.
    page.set_viewport_size(PHONE)
    expect(page.locator("#drawer-toggle")).to_be_visible()
    overflow = page.evaluate(OVERFLOWING)
    assert overflow["scrollWidth"] <= PHONE["width"] and not overflow["out"], overflow
    frame = page.evaluate(FRAME)
    assert frame["pageHeight"] <= PHONE["height"] and frame["question"]["bottom"] <= PHONE["height"]
    cards = page.locator("article.round").last.locator(".workers > section.worker")
    boxes = [box for card in cards.all() if (box := card.bounding_box())]
    assert len(boxes) == cards.count() >= 2
    assert len({round(b["x"]) for b in boxes}) == 1, boxes
    assert all(a["y"] + a["height"] <= b["y"] for a, b in itertools.pairwise(boxes)), boxes
    shoot(page, "council-420-light.png")
    expect_theme(page, "dark", DARK_BG)
    shoot(page, "council-420-dark.png")

    sidebar = page.locator("#sidebar")
    expect(sidebar).to_be_hidden()
    page.click("#drawer-toggle")
    expect(page.locator("#drawer-toggle")).to_have_attribute("aria-expanded", "true")
    expect(sidebar).to_be_visible()
    expect(sidebar).to_be_in_viewport(ratio=1)
    expect(page.locator("#conversation-list li")).to_have_count(1)
    shoot(page, "council-420-drawer.png")
    page.locator("#conversation-list li .open").first.click()  # opening one closes the drawer
    expect(sidebar).to_be_hidden()
    page.click("#drawer-toggle")
    expect(sidebar).to_be_visible()
    page.keyboard.press("Escape")
    expect(sidebar).to_be_hidden()
    assert page.evaluate(OVERFLOWING)["scrollWidth"] <= PHONE["width"]
    assert errors == []


@pytest.mark.browser
def test_every_conversation_has_an_address(council_page: tuple[Page, list[str]],
                                           app_url: str) -> None:
    page, errors = council_page
    page.goto("/")
    page.click("#new-conversation")
    expect(page).to_have_url(app_url + "/")
    assert api(page, "/api/conversations") == [], "New stored a conversation before a question"

    ask(page, "First: how do I plan a vegetable garden?")
    first = conversation_id(page)
    expect(list_item(page, first)).to_have_attribute("aria-current", "true")
    page.reload()
    expect(page.locator("article.round")).to_have_count(1)
    expect(page.locator("article.round .user-message")).to_contain_text("vegetable garden")
    expect(page.locator("#conversation-title")).to_have_text("First: how do I plan a vegetable garden?")

    page.locator("article.round .user-message").click()  # not typing: Alt+N is the app's
    page.keyboard.press("Alt+n")
    expect(page).to_have_url(app_url + "/")
    expect(page.locator("#question")).to_be_focused()
    expect(page.locator("article.round")).to_have_count(0)
    expect(page.locator("#thread-empty")).to_be_visible()
    assert [c["id"] for c in api(page, "/api/conversations")] == [first]

    ask(page, "Second: which tomatoes grow well in pots?")
    second = conversation_id(page)
    assert second != first
    expect(page.locator("#conversation-list li")).to_have_count(2)

    page.go_back()
    assert conversation_id(page) == first
    expect(page.locator("article.round .user-message")).to_contain_text("vegetable garden")
    expect(list_item(page, first)).to_have_attribute("aria-current", "true")
    page.go_forward()
    assert conversation_id(page) == second
    expect(page.locator("article.round .user-message")).to_contain_text("tomatoes")

    response = page.goto("/c/9999")
    assert response is not None and response.status == 404
    expect(page.locator("#thread-missing")).to_be_visible()
    expect(page.locator("#thread-missing")).to_contain_text("no conversation #9999")
    expect(page.locator("#thread-empty")).to_be_hidden()
    ask(page, "Third: when should I water them?")  # the box still works there
    third = conversation_id(page)
    assert third not in (first, second)
    expect(page.locator("#thread-missing")).to_be_hidden()
    assert len(api(page, "/api/conversations")) == 3
    # Chromium logs the page's 404 for the unknown conversation (its rounds come over the
    # socket, which says so in words); nothing else failed.
    expected = [e for e in errors if "status of 404" in e and "/9999'" in e]
    assert len(expected) == 1 and [e for e in errors if e not in expected] == [], errors


@pytest.mark.browser
def test_rename_search_and_export(council_page: tuple[Page, list[str]], app_url: str) -> None:
    page, errors = council_page
    page.goto("/")
    ask(page, "How do I bake sourdough bread at home?")
    bread = conversation_id(page)
    page.click("#new-conversation")
    capital = ask(page, "What is the capital of Mongolia, and why is it there?")
    geography = conversation_id(page)

    # Inline rename: Esc cancels, an empty title is refused with the server's reason, Enter saves.
    item = list_item(page, geography)
    original = item.locator(".open .title").inner_text()
    item.locator(".rename").click()
    field = item.locator(".rename-input")
    expect(field).to_be_focused()
    field.fill("Not this")
    field.press("Escape")
    expect(item.locator(".open .title")).to_have_text(original)
    item.locator(".rename").click()
    field.fill("   ")
    field.press("Enter")
    expect(item.locator(".rename-error")).to_have_text("Give the conversation a title.")
    expect(field).to_be_visible()
    field.fill("Geography notes")
    field.press("Enter")
    expect(item.locator(".open .title")).to_have_text("Geography notes")
    expect(page.locator("#conversation-title")).to_have_text("Geography notes")
    assert {c["id"]: c["title"] for c in api(page, "/api/conversations")}[geography] == \
        "Geography notes"

    # Search by title, and by a question's text (the list says which question matched).
    items = page.locator("#conversation-list li")
    page.keyboard.press("Control+k")
    expect(page.locator("#conversation-search")).to_be_focused()
    page.keyboard.type("sourdough")
    expect(items).to_have_count(1)
    expect(items.first).to_have_attribute("data-conversation-id", str(bread))
    page.fill("#conversation-search", "GEOGRAPHY")
    expect(items).to_have_count(1)
    expect(items.first).to_have_attribute("data-conversation-id", str(geography))
    page.fill("#conversation-search", "mongolia")
    expect(items).to_have_count(1)
    expect(items.first.locator(".match")).to_contain_text("capital of Mongolia")
    page.fill("#conversation-search", "100%_sure")
    expect(items).to_have_count(0)
    expect(page.locator("#conversation-empty")).to_have_text("No conversation matches “100%_sure”.")
    page.fill("#conversation-search", "")
    expect(items).to_have_count(2)

    # Export: vote first, so the export has a vote to show.
    cards = capital.locator(".workers > section.worker")
    best = cards.first.locator(".name").inner_text()
    cards.first.locator(".vote-best").click()
    expect(cards.first.locator(".vote-best")).to_have_attribute("aria-pressed", "true")
    with page.expect_download() as download:
        page.click("#export-markdown")
    assert download.value.suggested_filename.endswith(".md")
    markdown = Path(download.value.path()).read_text(encoding="utf-8")
    with page.expect_download() as download:
        page.click("#export-json")
    assert download.value.suggested_filename.endswith(".json")
    exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    with urllib.request.urlopen(f"{app_url}/api/conversations/{geography}/export.json") as response:
        assert "attachment" in response.headers["Content-Disposition"]
        assert json.loads(response.read()) == exported

    assert exported["title"] == "Geography notes"
    (round_,) = exported["rounds"]
    assert round_["user_message"] == "What is the capital of Mongolia, and why is it there?"
    workers = round_["workers"]
    assert [w["name"] for w in workers] == cards.locator(".name").all_inner_texts()
    assert round_["synthesis"]["text"].strip()
    assert [(v["kind"], v["answer_id"]) for v in round_["votes"]] == \
        [("best", workers[0]["answer_id"])]

    assert markdown.startswith("# Geography notes\n")
    assert "What is the capital of Mongolia, and why is it there?" in markdown
    for worker in workers:
        assert f"### {worker['name']}" in markdown
        assert worker["text"].strip() in markdown
    assert round_["synthesis"]["text"].strip() in markdown
    assert f"### {best} · {workers[0]['model']} · ★ best" in markdown
    # Chromium logs the 400 that refused the empty title; nothing else failed.
    assert len(errors) == 1 and "status of 400" in errors[0], errors


@pytest.mark.browser
def test_own_message_markdown_and_folded_answers(council_page: tuple[Page, list[str]]) -> None:
    page, errors = council_page
    page.set_viewport_size(WIDE)
    page.goto("/")
    round_ = ask(page, "Compare **two** tools:\n\n- `pip`\n- poetry\n\nfirst line\nsecond line")
    message = round_.locator(".user-message")
    expect(message.locator("strong")).to_have_text("two")
    expect(message.locator("li")).to_have_count(2)
    expect(message.locator("li code")).to_have_text("pip")
    expect(message.locator("br")).to_have_count(1)  # a typed line break stays one
    assert "**" not in message.inner_text()

    # The council answer is there: the answers are folded, their votes still in reach.
    toggle = round_.locator(".answers-toggle")
    cards = round_.locator(".workers > section.worker")
    count = cards.count()
    expect(round_).to_have_attribute("data-answers", "folded")
    expect(toggle).to_have_text(f"Show the {count} full answers")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    clipped = "(b) => b.scrollHeight > b.clientHeight + 1"
    assert any(card.locator(".body").evaluate(clipped) for card in cards.all())
    for card in cards.all():
        expect(card.locator(".vote-best")).to_be_visible()
    cards.nth(1).locator(".vote-best").click()
    expect(cards.nth(1).locator(".vote-best")).to_have_attribute("aria-pressed", "true")

    toggle.click()
    expect(round_).to_have_attribute("data-answers", "unfolded")
    expect(toggle).to_have_text("Fold the answers")
    assert not any(card.locator(".body").evaluate(clipped) for card in cards.all())
    toggle.click()
    expect(round_).to_have_attribute("data-answers", "folded")
    cards.first.locator(".body").click()  # a click on a folded answer unfolds
    expect(round_).to_have_attribute("data-answers", "unfolded")

    page.reload()  # a stored round with its council answer comes back folded
    round_ = page.locator("article.round")
    expect(round_).to_have_attribute("data-answers", "folded")
    expect(round_.locator(".user-message strong")).to_have_text("two")
    expect(round_.locator(".workers > section.worker").nth(1).locator(".vote-best")).to_have_attribute(
        "aria-pressed", "true")
    assert errors == []


@pytest.mark.browser
def test_a_long_conversation_list_comes_a_page_at_a_time(
        council_page: tuple[Page, list[str]]) -> None:
    """Why: the list is paged (`/api/conversations?limit=`), so the page must offer the rest."""
    page, errors = council_page
    page.goto("/")
    created = page.evaluate("""async (count) => {
      for (let i = 0; i < count; i++) {
        await fetch("/api/conversations", {method: "POST", headers: {"Content-Type": "application/json"},
                                           body: JSON.stringify({title: `Talk ${i}`})});
      }
      return count;
    }""", 101)
    assert created == 101
    page.reload()
    items, more = page.locator("#conversation-list li"), page.locator("#conversations-more")
    expect(items).to_have_count(100)
    expect(items.first).to_contain_text("Talk 100")
    expect(more).to_be_visible()
    more.click()
    expect(items).to_have_count(101)
    expect(items.last).to_contain_text("Talk 0")
    expect(more).to_be_hidden()
    page.fill("#conversation-search", "Talk 1")  # Talk 1, 10-19, 100: 12 matches, one page
    expect(items).to_have_count(12)
    expect(more).to_be_hidden()
    assert not errors
