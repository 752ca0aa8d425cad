"""Helpers for tests that run the real `run.py` in its own process and drive it in Chromium.

The fixtures built on these (`app_url`, `council_page`) live in conftest.py; test modules
override `app_args` / `app_env` to start the app the way they need.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Error, Locator, Page, expect, sync_playwright

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = PROJECT_ROOT / "test-output" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
START_TIMEOUT_S = 60.0
ROUND_TIMEOUT_MS = 30_000
PERSONAS = {"Architect", "Skeptic", "Explorer", "Pragmatist"}  # the shipped council

# Visible elements that reach past the right edge of the window, other than those inside a
# box that scrolls or clips sideways on purpose (a table's region, a code block).
OVERFLOWING = """() => {
  const clipsX = (el) => ["auto", "scroll", "hidden"].includes(getComputedStyle(el).overflowX);
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    const rect = el.getBoundingClientRect();
    if (!rect.width || rect.right <= innerWidth + 0.5) continue;
    let parent = el.parentElement, clipped = false;
    while (parent && parent !== document.body) { if (clipsX(parent)) { clipped = true; break; } parent = parent.parentElement; }
    if (!clipped && getComputedStyle(el).visibility !== "hidden") out.push(`${el.tagName}.${el.className} ${rect.right}`);
  }
  return {scrollWidth: document.documentElement.scrollWidth, out};
}"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_environment(data_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment without its COUNCIL_/OLLAMA_ settings, plus `extra`: a child
    `run.py` sees only what the test chose."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COUNCIL_", "OLLAMA_"))}
    env.update(COUNCIL_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1", **extra)
    return env


def wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path,
                       timeout: float = START_TIMEOUT_S) -> None:
    """Poll `GET url` until it answers 200; fail early if the process dies."""
    name = " ".join(str(a) for a in process.args[1:3])  # type: ignore[index]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{name} exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    pytest.fail(f"{name} did not answer on {url} within {timeout}s:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextmanager
def running_app(data_dir: Path, log: Path, args: list[str], env: dict[str, str]) -> Iterator[str]:
    """`run.py` with `args` as a subprocess on a free port; yields its URL once it serves."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "run.py", *args, "--port", str(port)], cwd=PROJECT_ROOT,
            env=app_environment(data_dir, **env), stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url + "/", process, log)
        yield url
    finally:
        stop(process)


@contextmanager
def chromium_page(base_url: str) -> Iterator[tuple[Page, list[str]]]:
    """A headless Chromium page on `base_url`; the list collects console errors and uncaught
    exceptions, for a test to assert empty at its end."""
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
            headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(base_url=base_url,
                                          viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.set_default_timeout(ROUND_TIMEOUT_MS)

            def on_console(message: ConsoleMessage) -> None:
                if message.type == "error":
                    errors.append(f"console: {message.text} ({message.location})")

            def on_pageerror(error: Error) -> None:
                errors.append(f"pageerror: {error}")

            page.on("console", on_console)
            page.on("pageerror", on_pageerror)
            yield page, errors
            context.close()
        finally:
            browser.close()


def shoot(page: Page, name: str) -> None:
    """A screenshot of the window in test-output/browser/."""
    path = SCREENSHOTS / name
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    assert path.stat().st_size > 0


def ask(page: Page, text: str, streaming: bool = False) -> Locator:
    """Send `text` with Enter and return its round once the round is done (with `streaming`,
    as soon as its first worker shows text, while it still runs)."""
    rounds = page.locator("article.round")
    before = rounds.count()
    page.fill("#question", text)
    page.press("#question", "Enter")
    # The first round of a fresh app also loads the sentence embedder: allow for that.
    expect(rounds).to_have_count(before + 1, timeout=ROUND_TIMEOUT_MS)
    if streaming:
        expect(rounds.last.locator("section.worker .body").first).not_to_have_text(
            "", timeout=ROUND_TIMEOUT_MS)
    else:
        expect(rounds.last).to_have_attribute("data-status", "done", timeout=ROUND_TIMEOUT_MS)
    return rounds.last


def expect_votes(round_: Locator, best: int | None, down: Collection[int] = ()) -> None:
    """The round's cards show `best` (a card index) as the best answer and `down` as thumbs down."""
    cards = round_.locator(".workers > section.worker")
    for i in range(cards.count()):
        card = cards.nth(i)
        expect(card.locator(".vote-best")).to_have_attribute("aria-pressed", str(i == best).lower())
        expect(card.locator(".vote-down")).to_have_attribute("aria-pressed", str(i in down).lower())
        if i == best:
            expect(card).to_have_class(re.compile(r"\bis-best\b"))
        else:
            expect(card).not_to_have_class(re.compile(r"\bis-best\b"))
