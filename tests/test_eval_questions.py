"""Question sets for `council eval`: the shipped set, JSON Lines files, and the user's own
questions sampled from their export across the discovered clusters."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from council.atomic import write_json_atomic, write_jsonl_atomic
from council.discovery.categorize import is_filler
from council.discovery.extract import ExtractedMessage, extract_messages
from council.discovery.parse import parse_export
from council.evaluation.exact import is_correct
from council.evaluation.from_export import MIN_CHARS, questions_from_export
from council.evaluation.questions import (
    CATEGORIES,
    MAX_QUESTION_CHARS,
    SHIPPED,
    Question,
    QuestionSetError,
    load_questions,
    shipped_questions,
)
from council.files import PersonaFiles
from council.training.data import PersonaSpec, chat_example
from tests.exports import PKUPPENS, REALAZTHAT

OPEN_KINDS = [c for c in CATEGORIES if c != "checkable"]


# ---- the shipped set -----------------------------------------------------------------------

def test_shipped_set_is_large_varied_and_checkable() -> None:
    questions = shipped_questions()
    assert SHIPPED == "shipped"
    assert len(questions) >= 80
    assert sum(q.checkable for q in questions) >= 24
    assert {q.category for q in questions} == set(CATEGORIES)
    assert all(q.checkable == (q.category == "checkable") for q in questions)
    open_counts = Counter(q.category for q in questions if not q.checkable)
    assert max(open_counts.values()) - min(open_counts.values()) <= 1, open_counts
    assert len({q.key for q in questions}) == len(questions)


def test_every_prefix_of_the_shipped_set_mixes_kinds() -> None:
    """`--limit 6` takes the first six: each run of six holds two checkable questions and
    every open kind."""
    questions = shipped_questions()
    for start in range(0, len(questions) - 5, 6):
        window = questions[start:start + 6]
        assert sum(q.checkable for q in window) >= 2, start
        assert {q.category for q in window if not q.checkable} == set(OPEN_KINDS), start


def test_shipped_checkable_answers_score_as_right() -> None:
    for question in shipped_questions():
        if not question.checkable:
            continue
        assert question.answer is not None
        assert "'Answer: <" in question.question, "each asks for a final Answer line"
        assert is_correct(f"Working it out step by step: 7, 99, 1,024.\nAnswer: {question.answer}",
                          question.answer), question
        assert not is_correct("Working it out step by step.\nAnswer: unknown", question.answer)
        assert not is_correct(f"Is it {question.answer}? I am not sure.\nSorry.",
                              question.answer), "a guess in passing is no answer"


# ---- keys ----------------------------------------------------------------------------------

def test_key_is_stable_and_covers_question_and_answer() -> None:
    question = Question("How many seconds are in a minute?", "60", "checkable")
    assert question.key == Question("How many seconds are in a minute?", "60").key, \
        "the category is a label, not part of what is asked"
    # pinned: answers cached under a key must be found again after an upgrade
    assert question.key == "77a775b0391ce741d5b774dd511b6267"
    others = {Question("How many seconds are in a minute?", "61").key,
              Question("How many seconds are in a minute?").key,
              Question("How many seconds are in a minute?", "").key,
              Question("How many seconds are in an hour?", "60").key}
    assert question.key not in others and len(others) == 4


# ---- JSON Lines files ----------------------------------------------------------------------

def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_valid_file_round_trips(tmp_path: Path) -> None:
    questions = [Question("What does print(2 ** 10) print?", "1024", "checkable"),
                 Question("How should I split this service?\nIt has two teams.", None, "design"),
                 Question("Naïve question with “quotes” and a \u2028 separator?")]
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps({k: v for k, v in vars(q).items() if v is not None},
                                       ensure_ascii=False) + "\n" for q in questions),
                    encoding="utf-8")
    assert load_questions(path) == questions


def test_numbers_keep_their_text_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_bytes("\ufeff".encode() + b'{"question": " A? ", "answer": 1.50}\n\n   \n'
                     b'{"question": "B?", "answer": 3, "category": " practical "}\r\n'
                     b'{"question": "C?", "answer": null}')
    assert load_questions(path) == [Question("A?", "1.50"), Question("B?", "3", "practical"),
                                    Question("C?")]


@pytest.mark.parametrize(("lines", "message"), [
    (['{"question": "A?"}', '{"question": "B?",}'], "line 2: not valid JSON"),
    (['["A?"]'], "line 1: a JSON list where an object is needed"),
    (['{"answer": "4"}'], 'line 1: "question" must be a non-empty string'),
    (['{"question": "   "}'], 'line 1: "question" must be a non-empty string'),
    (['{"question": 42}'], 'line 1: "question" must be a non-empty string'),
    (['{"question": "A?"}', '{"question": "B?", "answers": "4"}'],
     "line 2: unknown key 'answers'; a line may hold only question, answer, category"),
    (['{"question": "A?", "answer": true}'], '"answer" must be a non-empty string or a number'),
    (['{"question": "A?", "answer": " "}'], '"answer" must be a non-empty string or a number'),
    (['{"question": "A?", "answer": NaN}'], "line 1: not valid JSON (NaN is not a number"),
    (['{"question": "A?", "category": 5}'], 'line 1: "category" must be a string'),
    (['{"question": "A?"}', "", '{"question": " A? "}'],
     "line 3: the same question as line 1. Remove one of them."),
    ([json.dumps({"question": "x" * (MAX_QUESTION_CHARS + 1)})],
     "line 1: the question is 20,001 characters; shorten it to at most 20,000"),
    (["", "  "], "holds no questions: write one JSON object per line"),
])
def test_bad_files_are_refused_with_the_line_and_the_fix(tmp_path: Path, lines: list[str],
                                                        message: str) -> None:
    path = _write(tmp_path / "q.jsonl", lines)
    with pytest.raises(QuestionSetError) as caught:
        load_questions(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_unreadable_files_are_refused(tmp_path: Path) -> None:
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"question": "A?"}\n{"question": "caf\xe9?"}\n')
    with pytest.raises(QuestionSetError, match=r"line 2: not UTF-8 text\. Save the file as"):
        load_questions(latin)
    with pytest.raises(QuestionSetError, match="does not exist"):
        load_questions(tmp_path / "missing.jsonl")
    with pytest.raises(QuestionSetError, match="is a folder"):
        load_questions(tmp_path)
    (tmp_path / "empty.jsonl").write_bytes(b"")
    with pytest.raises(QuestionSetError, match="holds no questions"):
        load_questions(tmp_path / "empty.jsonl")


# ---- questions from the user's export ------------------------------------------------------

SLUGS = ("builder", "fixer", "writer")


@pytest.fixture(scope="module")
def pkuppens_messages() -> list[ExtractedMessage]:
    """The real export's kept messages (filler and repeats set aside), as discovery saw them."""
    return extract_messages(parse_export(PKUPPENS)).kept


def _discovered(root: Path, kept: list[ExtractedMessage]) -> dict[str, set[str]]:
    """Discovery's files for three clusters of the export's messages (every third message in
    each), five representatives each, and LoRA questions for two personas; the texts used to
    name or train, by kind."""
    files = PersonaFiles(root)
    members = {slug: kept[index::3] for index, slug in enumerate(SLUGS)}
    clusters = []
    for slug, messages in members.items():
        write_jsonl_atomic(files.cluster_messages(slug), (m.row() for m in messages))
        clusters.append({"slug": slug, "name": f"The {slug.title()} (tests)",
                         "representatives": [m.message.text for m in messages[:5]]})
    write_json_atomic(files.cluster_analysis, {"k": 3, "clusters": clusters})
    trained = [m.message.text.strip() for m in members["builder"][5:15]]
    logged = [m.message.text.strip() for m in members["fixer"][5:10]]
    train, _, _ = files.training_pairs("builder")
    persona = PersonaSpec("builder", "The Builder (tests)", "You build.")
    write_jsonl_atomic(train, (chat_example(persona, q, "An answer.") for q in trained))
    _, _, log = files.training_pairs("fixer")
    log.write_text("".join(json.dumps({"key": str(i), "question": q, "answer": "A."}) + "\n"
                           for i, q in enumerate(logged)) + '{"key": "torn', encoding="utf-8")
    return {"named": {t for c in clusters for t in c["representatives"]},
            "trained": set(trained) | set(logged)}


def test_export_questions_spread_across_clusters_and_skip_used_ones(
        tmp_path: Path, pkuppens_messages: list[ExtractedMessage]) -> None:
    used = _discovered(tmp_path, pkuppens_messages)
    questions = questions_from_export(PKUPPENS, tmp_path, count=30, seed=7)
    assert len(questions) == 30
    texts = [q.question for q in questions]
    assert len(set(texts)) == 30
    by_text = {m.message.text.strip(): m for m in pkuppens_messages}
    assert set(texts) <= set(by_text), "only the user's own messages, as they wrote them"
    assert not set(texts) & {t.strip() for t in used["named"]}, "never a naming example"
    assert not set(texts) & used["trained"], "never a training question"
    assert all(len(t) >= MIN_CHARS and not is_filler(t) for t in texts)
    assert all(not q.checkable for q in questions)
    names = [q.category for q in questions]
    assert Counter(names) == {f"The {slug.title()} (tests)": 10 for slug in SLUGS}
    assert all(len(set(names[i:i + 3])) == 3 for i in range(0, 30, 3)), \
        "the clusters take turns, so any prefix is spread across them"
    assert all(not by_text[t].message.context for t in texts), \
        "conversation openers come first: a follow-up means little on its own"

    assert questions_from_export(PKUPPENS, tmp_path, count=30, seed=7) == questions
    assert questions_from_export(PKUPPENS, tmp_path, count=30, seed=8) != questions


def test_export_questions_stop_when_the_clusters_run_out(
        tmp_path: Path, pkuppens_messages: list[ExtractedMessage]) -> None:
    used = _discovered(tmp_path, pkuppens_messages)
    everything = questions_from_export(PKUPPENS, tmp_path, count=100_000, seed=1)
    texts = [q.question for q in everything]
    assert len(texts) == len(set(texts)) < len(pkuppens_messages)
    eligible = {text for m in pkuppens_messages
                if MIN_CHARS <= len(text := m.message.text.strip()) <= MAX_QUESTION_CHARS}
    assert set(texts) == eligible - used["trained"] - {t.strip() for t in used["named"]}


def test_export_questions_need_discovery_of_that_export(
        tmp_path: Path, pkuppens_messages: list[ExtractedMessage]) -> None:
    with pytest.raises(QuestionSetError, match=r"run Discover on it first \(`council discover "
                                               r"--input FILE`"):
        questions_from_export(PKUPPENS, tmp_path, count=10, seed=0)
    _discovered(tmp_path, pkuppens_messages)
    with pytest.raises(QuestionSetError, match="None of the messages in .* is in the clusters"):
        questions_from_export(REALAZTHAT, tmp_path, count=10, seed=0)
    with pytest.raises(QuestionSetError, match="ask for at least 1"):
        questions_from_export(PKUPPENS, tmp_path, count=0, seed=0)
