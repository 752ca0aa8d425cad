"""Every page through axe-core, at a phone's width and by keyboard, driven in Chromium.

Why: a newcomer found a serious axe-core violation on every page (colour contrast, scrollable
boxes a keyboard cannot reach, empty table headers), three pages scrolling sideways at 420 px
behind a top bar cut off mid-word, the question box 23 Tab stops away and a "Who answers"
popover that would not close. One app (the demo server) and one browser page serve every test
here; the council page has two finished rounds first, one voted on, so the pages have something
to show.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser import OVERFLOWING, ask, chromium_page, running_app, shoot

AXE = Path(__file__).parent / "vendor" / "axe.min.js"  # axe-core 4.14.1, see vendor/VERSIONS.md
PAGES = {"council": "/c/1", "new conversation": "/", "personas": "/personas/",
         "new persona": "/personas/new", "discover": "/discover", "training": "/training", "leaderboard": "/leaderboard",
         "analytics": "/analytics", "status": "/status"}
WIDE = {"width": 1400, "height": 900}
PHONE = {"width": 420, "height": 860}
# A question whose code block is wider than its answer card: a box that scrolls sideways.
QUESTION = ("Why does this line fail?\n\n```python\n"
            + "result = compute(" + ", ".join(f"argument_{i}" for i in range(30)) + ")\n```")

# axe-core's serious and critical violations on the page, one line per element.
AXE_VIOLATIONS = """async () => {
  const {violations} = await axe.run(document, {resultTypes: ["violations"]});
  return violations.filter((v) => ["serious", "critical"].includes(v.impact)).flatMap((v) =>
    v.nodes.map((n) => `${v.impact} ${v.id} (${v.help}): ${n.target.join(" ")}: ${n.failureSummary}`));
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """The app with a conversation of two finished rounds, one voted on, and a page that
    carries axe-core."""
    folder = tmp_path_factory.mktemp("a11y")
    with running_app(folder / "data", folder / "run.log", ["--demo", "--demo-token-delay", "0"],
                     {}) as url, chromium_page(url) as (page, errors):
        page.context.add_init_script(path=str(AXE))
        page.set_viewport_size(WIDE)
        page.goto("/")
        ask(page, QUESTION)
        round_ = ask(page, "And how would you test it?")  # a landmark per round would repeat
        round_.locator(".vote-best").first.click()
        expect(round_.locator(".vote-best").first).to_have_attribute("aria-pressed", "true")
        yield page
        assert errors == []


def open_page(page: Page, path: str) -> None:
    """Go to `path` and wait until what it loads after the HTML is there."""
    page.goto(path)
    expect(page.locator("#backend-state")).not_to_have_text("checking backend…")
    if path.startswith("/c/"):
        expect(page.locator("article.round").first).to_have_attribute("data-status", "done")
    if path == "/analytics":
        expect(page.locator("#analytics-status")).to_be_hidden()


@pytest.mark.browser
@pytest.mark.parametrize("name", PAGES)
def test_no_serious_axe_violations_in_either_theme(site: Page, name: str) -> None:
    site.set_viewport_size(WIDE)
    site.emulate_media(color_scheme="light")
    open_page(site, PAGES[name])
    found = {}
    for scheme in ("light", "dark"):
        site.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
        found[scheme] = site.evaluate(AXE_VIOLATIONS)
    assert found == {"light": [], "dark": []}, "\n".join(
        f"{scheme}: {line}" for scheme, lines in found.items() for line in lines)


@pytest.mark.browser
def test_every_page_fits_a_phone_and_its_menu_works_by_keyboard(site: Page) -> None:
    site.emulate_media(color_scheme="light")
    site.set_viewport_size(PHONE)
    widths = {}
    for name, path in PAGES.items():
        open_page(site, path)
        widths[name] = site.evaluate(OVERFLOWING)
    assert all(w["scrollWidth"] <= PHONE["width"] and not w["out"] for w in widths.values()), widths

    # The top bar: the page links behind a Menu button that a keyboard opens and Esc closes.
    toggle, nav = site.locator("#menu-toggle"), site.locator("#site-nav")
    expect(toggle).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(nav).to_be_hidden()
    toggle.focus()
    site.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    for link in nav.locator("a").all():
        expect(link).to_be_in_viewport(ratio=1)
    site.keyboard.press("Tab")
    expect(nav.locator("a").first).to_be_focused()
    site.keyboard.press("Escape")
    expect(nav).to_be_hidden()
    expect(toggle).to_be_focused()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(nav).to_be_visible()
    site.locator("main h1").click()  # a click elsewhere closes it
    expect(nav).to_be_hidden()

    site.set_viewport_size(WIDE)  # a wide window shows the links and no button
    expect(nav).to_be_visible()
    expect(toggle).to_be_hidden()


@pytest.mark.browser
def test_the_question_box_is_reached_by_keyboard_and_the_popover_closes(site: Page) -> None:
    site.set_viewport_size(WIDE)
    question = site.locator("#question")
    open_page(site, "/c/1")
    expect(question).to_be_focused()  # on load

    # The skip link (every page's first Tab stop, below) leads to the question.
    skip = site.locator(".skip-link")
    skip.focus()
    expect(skip).to_have_text("Skip to the question")
    expect(skip).to_be_in_viewport()
    site.keyboard.press("Enter")
    expect(question).to_be_focused()
    assert site.url.endswith("/c/1"), "the skip link changed the conversation's address"

    site.keyboard.press("Alt+n")  # a new conversation: the box again
    expect(question).to_be_focused()

    # "Who answers": Esc, a click outside and sending each close it.
    who, picker = site.locator("#who-answers"), site.locator("#who-answers fieldset")
    summary = who.locator("summary")
    summary.click()
    expect(picker).to_be_visible()
    site.keyboard.press("Escape")
    expect(picker).to_be_hidden()
    expect(summary).to_be_focused()
    summary.click()
    expect(picker).to_be_visible()
    site.locator("#conversation-title").click()
    expect(picker).to_be_hidden()
    summary.click()
    who.locator(".answer-persona").first.check()
    ask(site, "Which persona answers when I pick one?")
    expect(picker).to_be_hidden()

    # Every other page: the first Tab stop from load is the skip link, to the page's content.
    open_page(site, "/status")
    site.keyboard.press("Tab")
    expect(skip).to_be_focused()
    expect(skip).to_have_text("Skip to content")
    site.keyboard.press("Enter")
    expect(site.locator("main")).to_be_focused()


@pytest.mark.browser
def test_council_page_after_a_round_screenshots(site: Page) -> None:
    site.emulate_media(color_scheme="light")
    for size in (WIDE, PHONE):
        site.set_viewport_size(size)
        open_page(site, "/c/1")
        shoot(site, f"council-round-{size['width']}.png")
    site.locator("#menu-toggle").click()
    shoot(site, "council-round-420-menu.png")
