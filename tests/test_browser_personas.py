"""The persona form in headless Chromium against the real `run.py --demo` process.

Two personas made through the form keep the colours it suggests, and those differ from each
other and from the shipped ones; the model menu offers what the demo server serves, "Other"
takes a typed name, and the Personas page flags the persona whose model the server lacks.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser import SCREENSHOTS

PERSONAS_SCREENSHOT = SCREENSHOTS / "personas.png"
FORM_SCREENSHOT = SCREENSHOTS / "persona-form.png"
SHIPPED_COLORS = ("#4f8cff", "#ef5b5b", "#b061ff", "#2fbf71")


def _rgb(hex_color: str) -> str:
    """How getComputedStyle writes a #rrggbb colour."""
    red, green, blue = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def _create(page: Page, name: str) -> str:
    """Fill the form's name and prompt (the model is set by the caller first); returns the
    colour the form suggested, which is left as it is."""
    page.fill("input[name=name]", name)
    page.fill("textarea[name=system_prompt]", f"You are the {name}.")
    color = page.locator("#color-input").input_value()
    page.click("button[type=submit]")
    expect(page.locator(".flash")).to_contain_text(f"Created {name}")
    return color


@pytest.mark.browser
def test_two_new_personas_get_their_own_colours_and_backend_models(
        council_page: tuple[Page, list[str]]) -> None:
    page, errors = council_page

    page.goto("/personas/new")
    menu = page.locator("#model-choice")
    offered = menu.locator("option").evaluate_all("options => options.map(o => o.value)")
    assert offered[0] == "" and offered[-1] == "other"
    assert {"qwen2.5:3b", "qwen2.5:7b"} <= set(offered)
    expect(menu.locator("option").first).to_contain_text("Default worker model")
    expect(page.locator("#model-input")).to_be_hidden()
    menu.select_option("qwen2.5:7b")
    first = _create(page, "Historian")

    page.goto("/personas/new")
    page.locator("#model-choice").select_option("other")
    expect(page.locator("#model-input")).to_be_visible()
    page.fill("#model-input", "gemma3:27b")
    page.screenshot(path=str(FORM_SCREENSHOT), full_page=True)
    second = _create(page, "Poet")

    assert first != second and not {first, second} & set(SHIPPED_COLORS)
    expect(page).to_have_url(re.compile(r"/personas/$"))
    rows = {name: page.locator("table.personas tr", has_text=name)
            for name in ("Architect", "Historian", "Poet")}
    # page.js paints each dot from its data-color once the page has loaded: wait for it
    for name, color in (("Architect", SHIPPED_COLORS[0]), ("Historian", first), ("Poet", second)):
        expect(rows[name].locator(".dot")).to_have_css("background-color", _rgb(color))
    expect(rows["Historian"]).to_contain_text("qwen2.5:7b")
    expect(rows["Historian"].locator(".model-missing")).to_have_count(0)
    expect(rows["Poet"].locator(".model-missing")).to_contain_text("ollama pull gemma3:27b")
    expect(page.locator("#models-missing")).to_contain_text("1 persona uses")
    page.screenshot(path=str(PERSONAS_SCREENSHOT), full_page=True)
    assert errors == []
