"""Prompt generation: the local model writes it; without one, a marked template stands in."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from council.discovery.prompts import generate_prompt, template_prompt, write_generated_prompts
from council.llm.demo_server import DemoServer
from council.llm.ollama_backend import OllamaBackend


@dataclass
class Cluster:
    name: str = "Python Debugger"
    slug: str = "python-debugger"
    size: int = 42
    keywords: list[str] = field(default_factory=lambda: ["python", "error", "traceback",
                                                         "pandas", "debug", "import"])
    characteristics: list[str] = field(default_factory=lambda: [
        "Mostly technical, often includes code (40%)", "Asks why-questions (35%)"])
    representatives: list[str] = field(default_factory=lambda: [
        "Why does my pandas merge duplicate rows?", "Fix this ImportError in my script"])


def test_the_model_writes_the_prompt(demo_server: DemoServer) -> None:
    backend = OllamaBackend(demo_server.url)
    try:
        prompt = generate_prompt(Cluster(), backend, "qwen2.5:7b")
    finally:
        backend.close()
    assert prompt.source == "llm" and prompt.model == "qwen2.5:7b" and prompt.note is None
    assert len(prompt.system_prompt) >= 40
    request = demo_server.requests[-1]
    assert "Why does my pandas merge duplicate rows?" in request["messages"][1]["content"]
    assert "42 of your messages" in prompt.description


def test_without_a_model_the_template_is_used_and_marked() -> None:
    backend = OllamaBackend("http://127.0.0.1:9", timeout=2)
    try:
        prompt = generate_prompt(Cluster(), backend, "qwen2.5:7b")
    finally:
        backend.close()
    assert prompt.source == "template" and "ollama serve" in prompt.note
    assert prompt.system_prompt.startswith("You are Python Debugger")
    assert "Asks why-questions (35%)" in prompt.system_prompt
    assert template_prompt(Cluster()).system_prompt == prompt.system_prompt


def test_generated_prompts_are_written_as_json(tmp_path: Path) -> None:
    path = tmp_path / "prompts" / "generated_prompts.json"
    write_generated_prompts([template_prompt(Cluster())], path)
    data = json.loads(path.read_text())
    assert data["personas"][0]["slug"] == "python-debugger"
    assert data["personas"][0]["source"] == "template"
