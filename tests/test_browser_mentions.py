"""@mentions on the council page, driven in Chromium: typing `@` lists the personas by the names
shown, picked by keyboard alone; a mention that names several or no one is said in the round,
after a reload too. Why: a newcomer's "@TheLearner(docker)" and "@Learner" were ignored without
a word, and only slugs, which the page never shows, worked."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from tests.browser import ROUND_TIMEOUT_MS, SCREENSHOTS, ask

LEARNERS = ["The Learner (docker)", "The Learner (python)"]


def import_personas(page: Page, names: list[str]) -> None:
    """Add personas as a user would: a persona export through the Personas page."""
    page.goto("/personas/")
    export = [{"name": name, "system_prompt": f"You are {name}."} for name in names]
    page.set_input_files("input[name=file]", files=[{
        "name": "personas.json", "mimeType": "application/json",
        "buffer": json.dumps(export).encode()}])
    page.click("form.inline-form button[type=submit]")
    expect(page.locator(".flash").first).to_contain_text(f"Imported: {len(names)} new")


@pytest.mark.browser
def test_the_at_list_picks_by_keyboard_and_unclear_mentions_are_said(
        council_page: tuple[Page, list[str]]) -> None:
    page, errors = council_page
    import_personas(page, LEARNERS)
    page.goto("/")
    box, options = page.locator("#question"), page.locator("#mention-list [role=option]")
    box.focus()

    page.keyboard.type("@sk")
    expect(options).to_have_text(["Skeptic"])
    page.keyboard.press("Tab")
    expect(page.locator("#mention-list")).to_be_hidden()
    page.keyboard.type("and @lea")
    expect(options).to_have_text(LEARNERS)
    expect(options.first).to_have_attribute("aria-selected", "true")
    page.screenshot(path=str(SCREENSHOTS / "council-mention-list.png"))
    page.keyboard.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", options.nth(1).get_attribute("id"))
    page.keyboard.press("Enter")
    expect(box).to_have_value("@Skeptic and @TheLearner(python) ")
    expect(page.locator("article.round")).to_have_count(0)  # Enter picked; nothing was sent

    page.keyboard.type("or @Learner")
    expect(options).to_have_count(2)
    page.keyboard.press("Escape")
    expect(page.locator("#mention-list")).to_be_hidden()
    page.keyboard.type(", what should I learn first?")
    page.keyboard.press("Enter")
    round_ = page.locator("article.round").last
    expect(round_).to_have_attribute("data-status", "done", timeout=ROUND_TIMEOUT_MS)
    names = round_.locator("section.worker .name")
    expect(names).to_have_count(2)
    assert set(names.all_text_contents()) == {"Skeptic", LEARNERS[1]}
    expect(round_.locator(".mention-notice")).to_have_text(
        "@Learner could be The Learner (docker) or The Learner (python). "
        "Only the personas you named clearly answer.")

    missed = ask(page, "@Lerner what now?")
    notice = missed.locator(".mention-notice")
    expect(notice).to_contain_text("@Lerner names no persona. The router chose who answers")
    expect(missed.locator(".routing .chosen")).to_be_hidden()
    notice.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "council-mention-notice.png"))
    page.reload()
    expect(page.locator("article.round").last.locator(".mention-notice")).to_contain_text(
        "@Lerner names no persona")
    assert errors == []
