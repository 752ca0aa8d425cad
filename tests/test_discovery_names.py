"""Persona names a person would write: the export's languages and their stop words, the user's
prose without markup or code, "The Role (domain)" names, traits lines that only say what
matters, and what a model writes kept only when it passes the same checks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from council.discovery.cluster import Clustering, cluster_embeddings
from council.discovery.extract import extract_messages
from council.discovery.languages import Languages, detect_languages, message_language
from council.discovery.naming import (
    TOPIC_DOMAINS,
    ClusterProfile,
    describe_clusters,
    stop_words_for,
    terms_of,
    unique_names,
)
from council.discovery.parse import parse_export
from council.discovery.pipeline import DiscoveryOptions, run_discovery
from council.discovery.roles import MODE_BY_KEY
from council.discovery.traits_lines import characteristics, distinct_terms
from council.discovery.vocabulary import (
    CODE_WORDS,
    MARKUP_WORDS,
    NAME_RE,
    display_forms,
    name_problems,
    name_words,
    prose,
)
from council.discovery.writer import write_with_model
from council.embeddings.int8 import Int8Embedder
from council.features.traits import categorize
from council.llm.base import ChatStats
from council.llm.ollama_backend import OllamaBackend
from council.slugs import slugify
from tests.exports import (
    GROUPS,
    IMAGE_GEN,
    PKUPPENS,
    REALAZTHAT,
    THINKING,
    write_sharegpt_export,
)
from tests.multilingual_export import LANGUAGES, multilingual_messages, write_multilingual_export

# The ShareGPT export's messages (tests/exports.py), in order.
GROUP_TEXTS = [t.format(n=n) for group in GROUPS.values() for n in range(1, 8) for t in group]


def assert_names_read_well(profiles: list[ClusterProfile], stop_words: frozenset[str],
                           texts: list[str]) -> None:
    """The acceptance checks: form, no stop word / markup / code, unique, mode + domain, and
    every domain word is one the user wrote in prose (not only inside code or markup)."""
    names = [p.name for p in profiles]
    assert len(set(names)) == len(names) and len({p.slug for p in profiles}) == len(names)
    prose_words = {w.casefold() for text in texts for w in re.findall(r"\w+", prose(text))}
    for profile in profiles:
        assert name_problems(profile.name, stop_words) == [], profile.name
        match = NAME_RE.fullmatch(profile.name)
        assert match and profile.mode in MODE_BY_KEY and match["domain"] == profile.domain
        for word in name_words(profile.name):
            assert word.casefold() not in stop_words | MARKUP_WORDS | CODE_WORDS, profile.name
            assert not re.search(r"\d", word) and len(word) > 1, profile.name
        if profile.domain not in TOPIC_DOMAINS.values():  # else no keyword was left
            for word in re.findall(r"\w+", profile.domain.casefold()):
                assert word in prose_words or word[:-1] in prose_words, (profile.name, word)
        assert 3 <= len(profile.characteristics) <= 6
        assert not any("%" in line or "/" in line for line in profile.characteristics)


@pytest.fixture(scope="module")
def discovered(tmp_path_factory: pytest.TempPathFactory,
               int8_embedder: Int8Embedder) -> Iterator[dict[str, tuple[list[ClusterProfile],
                                                                        frozenset[str],
                                                                        list[str], tuple]]]:
    """The pipeline (no model) on every export that has messages to cluster."""
    root = tmp_path_factory.mktemp("names")
    sharegpt, multilingual = root / "sharegpt.json", root / "multilingual.json"
    write_sharegpt_export(sharegpt)
    write_multilingual_export(multilingual)
    results = {}
    for export in (PKUPPENS, REALAZTHAT, sharegpt, multilingual):
        result = run_discovery(DiscoveryOptions(export, root / export.stem), int8_embedder,
                               None, "none")
        texts = [m.text for m in parse_export(export).messages]
        languages = detect_languages(texts)
        results[export.stem] = (result.clusters, stop_words_for(languages), texts,
                                languages.codes)
    yield results


@pytest.mark.parametrize("export", [PKUPPENS.stem, REALAZTHAT.stem, "sharegpt", "multilingual"])
def test_fixture_exports_get_names_a_person_would_write(discovered, export: str) -> None:
    profiles, stop_words, texts, _ = discovered[export]
    assert_names_read_well(profiles, stop_words, texts)


def test_the_dutch_english_export_is_named_without_een_div_or_order(discovered) -> None:
    profiles, _, _, codes = discovered[PKUPPENS.stem]
    assert set(codes) == {"en", "nl"}
    words = {w.casefold() for p in profiles for w in name_words(p.name)}
    assert not words & {"een", "van", "het", "div", "class", "order", "self", "null"}
    assert any(p.traits["languages"][0][0] == "nl" for p in profiles if p.traits["languages"])


def test_the_multilingual_export_finds_its_four_languages(discovered) -> None:
    profiles, stop_words, _, codes = discovered["multilingual"]
    assert set(codes) == set(LANGUAGES)
    assert {"een", "und", "les", "the", "het", "der", "pour"} <= stop_words
    lines = [line for p in profiles for line in p.characteristics]
    assert any(line.startswith("Writes") and "in German" in line for line in lines)


@pytest.mark.parametrize("export", [IMAGE_GEN, THINKING])
def test_exports_of_filler_alone_still_get_clean_names(export: Path,
                                                       int8_embedder: Int8Embedder) -> None:
    """These fixtures hold only "question 1"-style filler, which discovery refuses to cluster;
    named anyway (one cluster of everything), the name stays clean."""
    parsed = parse_export(export)
    assert not extract_messages(parsed, {}).kept
    texts = [m.text for m in parsed.messages]
    x = int8_embedder.encode(texts)
    clustering = Clustering(labels=np.zeros(len(texts), dtype=int),
                            centroids=x.mean(axis=0, keepdims=True), k=1,
                            silhouette=float("nan"), scores={})
    profiles = describe_clusters(texts, [categorize(t) for t in texts], x, clustering)
    assert_names_read_well(profiles, stop_words_for(detect_languages(texts)), texts)
    assert profiles[0].name == "The Generalist (mixed topics)"


def test_each_message_gets_its_language_or_none() -> None:
    for language, _, text in multilingual_messages():
        assert message_language(text) == language, text
    assert message_language("ok wat is dit") is None  # too short to tell
    assert message_language("```python\nprint('hello world, this is code')\n```") is None


def test_prose_keeps_the_users_words_and_drops_code_and_markup() -> None:
    text = ("Please fix the `total()` helper in utils.py, see https://example.com/a and "
            "[the docs](https://example.com/b). It raises KeyError and my_var is None.\n"
            '<div class="row"><span>Total</span></div>\n'
            "```python\ndef helper(items):\n    return sum(items)\n```\n"
            "The getElementById call fails too, \\frac{a}{b} &nbsp; done")
    kept = prose(text)
    assert {"Please", "fix", "helper", "docs", "raises", "call", "fails", "done"} <= set(
        re.findall(r"\w+", kept))
    for gone in ("total", "utils", "KeyError", "my_var", "Total", "div", "row", "def",
                 "sum", "getElementById", "example.com", "frac", "nbsp"):
        assert gone not in kept, gone


@pytest.mark.parametrize(("name", "problem"), [
    ("The Een Thinker", "not of the form"),
    ("The Debugger (een)", "stop word"),
    ("The Debugger (div)", "markup or code"),
    ("The Debugger (kwargs)", "markup or code"),
    ("The Debugger (href)", "markup or code"),
    ("The Debugger (KeyError)", "markup or code"),
    ("The Analyst (2023)", "not a word"),
    ("The Error (Python)", "does not name a role"),
    ("The Decision Maker (lentils and spinach)", "stop word"),
    ("The Systems Architect (Python services) and some very long words after it", "form"),
])
def test_name_problems_say_what_is_wrong(name: str, problem: str) -> None:
    problems = name_problems(name, stop_words_for(Languages(("nl", "en"), ())))
    assert any(problem in p for p in problems), problems


def test_good_names_pass() -> None:
    stop_words = stop_words_for(detect_languages([]))
    for name in ("The Systems Architect (Python services)", "The Decision Maker (house buying)",
                 "The Debugger (pandas merge)", "The Gardener (roses)"):
        assert name_problems(name, stop_words) == [], name


def test_traits_lines_leave_out_small_shares_and_say_shares_in_words() -> None:
    traits = {"modes": [["debugging", 0.62], ["exploring", 0.05]],
              "topics": [["programming", 0.9]], "tones": [["technical", 0.4]],
              "question_types": [["what", 0.01]], "reasoning": [["because", 0.34]],
              "length": [["short", 0.7]], "code_share": 0.12, "languages": [["en", 1.0]]}
    lines = characteristics(traits, ["Python", "pandas"], 40)
    assert lines == ["Works through errors and things that don't work (in most messages)",
                     "Mostly about programming",
                     "Explains the reasons behind a question (in about a third of the messages)",
                     "Often mentions Python, pandas"]
    assert not any("what" in line.lower() or "%" in line for line in lines)


def test_keyword_pairs_are_words_the_user_wrote_side_by_side() -> None:
    stop_words = stop_words_for(detect_languages([]))
    terms = terms_of("My pandas merge fails. Rust or Go for the backend, pros and cons", stop_words)
    assert {"pandas merge", "merge fails"} <= set(terms)
    assert not {"fails rust", "rust backend", "pros cons"} & set(terms)


def test_the_mentions_line_says_each_word_once() -> None:
    assert distinct_terms(["data", "missing", "missing data", "examining", "examining data",
                           "software"]) == ["missing data", "examining", "software"]
    assert distinct_terms(["error", "merge", "merge error", "pandas", "pandas merge"]) == [
        "merge error", "pandas"]


def test_a_label_is_not_a_name() -> None:
    forms = display_forms(["Title: my plan", "see the Title: here", "the title of it"])
    assert forms["title"] == "title"
    assert display_forms(["I use Python daily", "my Python code"])["python"] == "Python"


def test_a_small_export_is_named_by_mode_and_domain() -> None:
    texts = ["Why does my Python loop fail with an error?", "Why does my Python class fail?",
             "Should I learn Rust or Go for my backend?", "Should I pick Rust for the backend?"]
    x = np.eye(4, dtype=np.float32)
    clustering = Clustering(labels=np.array([0, 0, 1, 1]), centroids=x[:2], k=2,
                            silhouette=float("nan"), scores={})
    profiles = describe_clusters(texts, [categorize(t) for t in texts], x, clustering)
    assert [p.mode for p in profiles] == ["debugging", "deciding"]
    assert [p.name for p in profiles] == ["The Debugger (Python loop)",
                                          "The Decision Maker (Rust)"]
    assert_names_read_well(profiles, stop_words_for(detect_languages(texts)), texts)


def test_clashing_names_take_another_domain_word_then_another_role() -> None:
    names = unique_names([["Debugger", "Explorer"]] * 3 + [["Debugger", "Analyst"]],
                         [["Python", "pandas"], ["Python", "Django"], ["Python"], ["Python"]])
    assert [name for name, _ in names] == [
        "The Debugger (Python)", "The Debugger (Python, Django)", "The Explorer (Python)",
        "The Analyst (Python)"]


class ScriptedWriter:
    """A ChatBackend that answers each request with the next scripted reply."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.requests: list[list[dict[str, str]]] = []

    def stream_chat(self, model: str, messages: list[dict[str, str]],
                    options: dict) -> Iterator[str | ChatStats]:
        assert options["temperature"] == 0.0 and options["seed"] == 7
        self.requests.append(messages)
        yield self.replies.pop(0)


@pytest.fixture
def three_profiles(int8_embedder: Int8Embedder) -> list[ClusterProfile]:
    x = int8_embedder.encode(GROUP_TEXTS)
    clustering = cluster_embeddings(x, clusters=3, seed=0)
    return describe_clusters(GROUP_TEXTS, [categorize(t) for t in GROUP_TEXTS], x, clustering)


def test_the_model_names_and_describes_a_persona_when_it_passes_the_checks(
        three_profiles: list[ClusterProfile]) -> None:
    python = next(p for p in three_profiles if p.mode == "debugging")
    others = [p for p in three_profiles if p is not python]
    replies = {id(python): ["**The Systems Debugger (Python scripts)**",
                            ("- Pastes the traceback first\n- Wants the cause, then the fix\n"
                             "- Tests each change right away")]}
    for other in others:
        replies[id(other)] = ["The Een Thinker", "Likes things"]
    backend = ScriptedWriter([r for p in three_profiles for r in replies[id(p)]])
    stop_words = stop_words_for(Languages(("nl", "en"), ()))
    written = write_with_model(three_profiles, backend, "small", stop_words, seed=7)
    named = next(p for p in written if p.index == python.index)
    assert named.name == "The Systems Debugger (Python scripts)" and named.name_source == "llm"
    assert named.slug == slugify(named.name) and named.traits_source == "llm"
    assert named.domain == "Python scripts" and named.mode == python.mode
    assert named.characteristics[:3] == ["Pastes the traceback first",
                                         "Wants the cause, then the fix",
                                         "Tests each change right away"]
    assert named.notes == []
    for original, kept in zip(others, [p for p in written if p.index != python.index]):
        assert kept.name == original.name and kept.name_source == "template"
        assert kept.characteristics == original.characteristics
        assert "'Een' is a stop word" in kept.notes[0] and "fewer than 3 lines" in kept.notes[1]
    asked = backend.requests[2 * three_profiles.index(python)][-1]["content"]
    assert "works through errors" in asked and "Python" in asked
    assert_names_read_well(written, stop_words, GROUP_TEXTS)


def test_a_model_name_that_copies_an_example_or_another_persona_is_refused(
        three_profiles: list[ClusterProfile]) -> None:
    backend = ScriptedWriter(["The Debugger (Flask services)", "x", three_profiles[0].name, "x",
                              "The Decision Maker (house buying)", "x"])
    written = write_with_model(three_profiles, backend, "small",
                               stop_words_for(detect_languages([])), seed=7)
    assert [p.name for p in written] == [p.name for p in three_profiles]
    assert "'Flask' is not in the messages" in written[0].notes[0]
    assert "another persona has that name" in written[1].notes[0]
    assert "'house' is not in the messages" in written[2].notes[0]
    assert all("fewer than 3 lines" in p.notes[1] for p in written)


def test_an_unreachable_model_leaves_the_template_and_says_so(
        three_profiles: list[ClusterProfile]) -> None:
    backend = OllamaBackend("http://127.0.0.1:9", timeout=2)
    try:
        written = write_with_model(three_profiles, backend, "qwen2.5:7b",
                                   stop_words_for(detect_languages([])))
    finally:
        backend.close()
    assert [p.name for p in written] == [p.name for p in three_profiles]
    assert all("not reachable" in p.notes[0] and p.name_source == "template" for p in written)


def test_traits_lines_that_all_start_the_same_way_are_refused(
        three_profiles: list[ClusterProfile]) -> None:
    same = "- Lists the plans and requests\n- Lists the tasks and requests\n- Lists the goals"
    backend = ScriptedWriter(["x", same] * 3)
    written = write_with_model(three_profiles, backend, "small",
                               stop_words_for(detect_languages([])), seed=7)
    assert all(p.traits_source == "template" and p.characteristics == q.characteristics
               for p, q in zip(written, three_profiles, strict=True))
    assert all("every line starts the same way" in p.notes[1] for p in written)
    assert "Role: " in backend.requests[0][-1]["content"]
