"""End-to-end: the real `run.py --demo` process driven by headless Chromium.

Why: the Socket.IO tests prove the server emits the right events, but only a browser proves
that council.js turns them into a page a person can read: cards that fill in token by token,
a council answer, a conversation in the sidebar, and a round that comes back after a reload.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Error, Page, expect, sync_playwright

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = PROJECT_ROOT / "test-output" / "browser" / "council-round.png"
PERSONAS = {"Architect", "Skeptic", "Explorer", "Pragmatist"}
QUESTION = "How should a small team structure a Flask app that streams answers over websockets?"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
START_TIMEOUT_S = 60.0
ROUND_TIMEOUT_MS = 30_000

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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll `GET url` until it answers 200; fail early if the process dies."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"run.py exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    pytest.fail(f"run.py did not answer on {url} within {START_TIMEOUT_S}s:\n{log.read_text()}")


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[str]:
    """`run.py --demo` as a subprocess on a free port with a fresh data dir; yields its URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COUNCIL_", "OLLAMA_"))}
    env.update(COUNCIL_DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1")
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "run.py", "--demo", "--demo-token-delay", "0.01",
             "--port", str(port)],
            cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url + "/", process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def council_page(app_url: str) -> Iterator[tuple[Page, list[str]]]:
    """A headless Chromium page; the list collects console errors and uncaught exceptions."""
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
            headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(base_url=app_url,
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


@pytest.mark.browser
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
    expect(round_).to_have_count(1)
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
