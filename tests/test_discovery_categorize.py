"""Rule-based labels for persona discovery: table of real-looking messages, tags, filler."""

from __future__ import annotations

import random

import pytest

from council.discovery.categorize import dedupe_key, embedding_text, is_filler
from council.features.traits import ANALYSIS_CHARS, TONES, TOPICS, MessageTraits, categorize

TRACEBACK = ("Traceback (most recent call last):\n"
             '  File "main.py", line 3, in <module>\n'
             "    print(x[5])\n"
             "IndexError: list index out of range\n")
PANDAS = ("Here is my code:\n```python\nimport pandas as pd\ndf = pd.read_csv('a.csv')\n"
          "print(df.groupby('a').sum())\n```\nwhy is it slow on a 10GB dataset?")

# message, topic, tone, question types, length, has_code
CASES: list[tuple[str, str, str, list[str], str, bool]] = [
    ("how do i reverse a list in python", "programming", "casual", ["how"], "short", False),
    ("Why is the sky blue?", "science_math", "casual", ["why"], "short", False),
    (("Could you please proofread my cover letter for a marketing manager position? I would "
     "appreciate feedback on the tone and the structure of the second paragraph."),
     "writing", "formal", ["request"], "medium", False),
    ("what if we built a city on mars lol, how would people even get food?",
     "science_math", "exploratory", ["what_if", "how"], "medium", False),
    ("Write me a short poem about a dragon who is afraid of the dark",
     "creative", "casual", ["request"], "short", False),
    ("I'm getting this error when I run my script:\n" + TRACEBACK + "Any idea what's wrong?",
     "programming", "technical", ["what"], "medium", True),
    ("Should I use PostgreSQL or MongoDB for a small SaaS app? What are the trade-offs?",
     "programming", "technical", ["should_i", "what"], "medium", False),
    ("Compare random forest vs xgboost for tabular data classification",
     "data_ml", "technical", ["compare"], "short", False),
    ("I feel really stressed about my exams and can't sleep, any advice? 😩",
     "personal", "casual", [], "short", False),
    ("Explain the derivative of x^2 step by step", "science_math", "casual", ["request"],
     "short", False),
    (PANDAS, "data_ml", "technical", ["why"], "medium", True),
    ("I wonder whether octopuses dream. Is there any research on that?",
     "science_math", "exploratory", [], "short", False),
    (("My manager wants a pricing strategy for our B2B product next quarter. What should I "
     "include?"), "business", "formal", ["what", "should_i"], "medium", False),
    (("Dear assistant, I am preparing for my university entrance exams and would like a study "
      "plan. ") * 6, "learning", "formal", [], "long", False),
    ("hey can u make me a workout plan, gym 3x a week, kinda new to this tbh",
     "personal", "casual", ["request"], "medium", False),
    ("Brainstorm some name ideas for a fantasy villain", "creative", "exploratory", [],
     "short", False),
    ("ok", "other", "casual", [], "short", False),
]


@pytest.mark.parametrize(("text", "topic", "tone", "questions", "length", "has_code"), CASES)
def test_categorize_labels_real_looking_messages(text: str, topic: str, tone: str,
                                                 questions: list[str], length: str,
                                                 has_code: bool) -> None:
    labels = categorize(text)
    assert (labels.topic, labels.tone, labels.question_types, labels.length, labels.has_code) \
        == (topic, tone, questions, length, has_code)


def test_reasoning_markers_name_the_cues_that_appear() -> None:
    text = ("I think the cache is the bottleneck because every request misses it; for example "
            "the login page. Therefore we should compare Redis versus memcached, step by step, "
            "and weigh the trade-off in memory.")
    assert categorize(text).reasoning_markers == [
        "because", "therefore", "step_by_step", "compare", "hypothesis", "trade_off", "example"]
    assert categorize("hello there").reasoning_markers == []


def test_question_types_are_unique_and_in_order_of_appearance() -> None:
    text = "Why does this fail? How do I fix it? Why again? Write a test for it."
    assert categorize(text).question_types == ["why", "how", "request"]


def test_a_pasted_traceback_does_not_count_as_a_request() -> None:
    labels = categorize("See below.\n" + TRACEBACK)
    assert labels.has_code and labels.question_types == []


def test_indented_code_counts_as_code() -> None:
    text = "This loops forever:\n    while x > 0:\n        x += 1\nwhy?"
    assert categorize(text).has_code
    assert embedding_text(text) == "This loops forever: [code] why?"


def test_length_buckets_follow_word_counts() -> None:
    assert categorize("word " * 14).length == "short"
    assert categorize("word " * 15).length == "medium"
    assert categorize("word " * 79).length == "medium"
    assert categorize("word " * 80).length == "long"


def test_embedding_text_replaces_a_fenced_block_with_its_language() -> None:
    assert embedding_text(PANDAS) == \
        "Here is my code: [code: python] why is it slow on a 10GB dataset?"
    assert embedding_text("look:\n```\nx = 1\n```\nok?") == "look: [code] ok?"
    assert embedding_text("unclosed ```js\nconst a = 1;\nconst b = 2;") == "unclosed [code: js]"


def test_embedding_text_replaces_a_pasted_traceback_with_a_log_tag() -> None:
    text = "I get this when running it:\n" + TRACEBACK + "\nAny idea what's wrong?"
    assert embedding_text(text) == "I get this when running it: [log] Any idea what's wrong?"


def test_embedding_text_collapses_whitespace_and_cuts() -> None:
    assert embedding_text("  a \n\n b\t c  ") == "a b c"
    cut = embedding_text("lorem ipsum " * 1000, max_chars=100)
    assert len(cut) <= 100 and cut.startswith("lorem ipsum") and not cut.endswith(" ")


@pytest.mark.parametrize("text", ["continue", "Thanks!", "ok", "OK.", "go on", "Regenerate",
                                  "yes", "more", "", "  ", "🙏", "hello there", "Thank you!!"])
def test_filler_says_nothing_about_the_user(text: str) -> None:
    assert is_filler(text)


@pytest.mark.parametrize("text", ["why is the sky blue?", "pandas groupby", "what?",
                                  "Write a haiku about autumn leaves",
                                  "continue the story but make the villain win"])
def test_content_is_not_filler(text: str) -> None:
    assert not is_filler(text)


def test_dedupe_key_normalises_case_spacing_and_end_punctuation() -> None:
    assert dedupe_key("Hello  world!") == dedupe_key("hello world") == "hello world"
    assert dedupe_key("  ¿Qué tal?  ") == "qué tal"
    assert dedupe_key("a.b, c") == "a.b, c"
    assert dedupe_key("!!!") == ""


def _check(labels: MessageTraits) -> None:
    assert labels.topic in TOPICS
    assert labels.tone in TONES
    assert labels.length in {"short", "medium", "long"}


@pytest.mark.parametrize("text", ["", " ", "🙂🙂🙂", "\x00\x01", "```", "?" * 50, "\n" * 100,
                                  "((((((((", "```python", "Traceback (most recent call last):"])
def test_categorize_never_raises_on_odd_input(text: str) -> None:
    _check(categorize(text))
    embedding_text(text)
    is_filler(text)
    dedupe_key(text)


def test_categorize_never_raises_on_random_unicode() -> None:
    rng = random.Random(1234)
    alphabet = ("abc XYZ \n\t`~!?.,:;(){}[]<>=_-+*/\\\"'#$%^&|0123456789 éßΩЖ中文ع🙂🚀\u200b"
                "\ufeff\u0301")
    for _ in range(40):
        size = rng.randint(0, 400)
        if rng.random() < 0.5:
            text = "".join(rng.choice(alphabet) for _ in range(size))
        else:
            text = "".join(chr(rng.randint(1, 0x10FFFF)) for _ in range(size)).encode(
                "utf-8", "replace").decode("utf-8", "replace")
        _check(categorize(text))
        assert len(embedding_text(text, max_chars=50)) <= 50
        is_filler(text)
        dedupe_key(text)


# Read, these words would change every label but the length: code, tone, topic, questions and
# reasoning cues.
TELLING_TAIL = "\n" + PANDAS + "\nWhat if we compared both? I think so, because it is slower."


def test_labels_read_only_the_first_analysis_chars() -> None:
    """What keeps a pasted megabyte fast (bench/discovery.py times it): past ANALYSIS_CHARS
    nothing is read, so a tail that would change the labels changes none."""
    head = "lorem ipsum " * (ANALYSIS_CHARS // 12 + 1)
    read, unread = categorize(TELLING_TAIL + head), categorize(head + TELLING_TAIL)
    assert unread == categorize(head)
    assert read.has_code and not unread.has_code
    assert (read.topic, read.tone) == ("data_ml", "technical")
    assert (unread.topic, unread.tone) == ("other", "casual")
    assert read.question_types and not unread.question_types
    assert read.reasoning_markers and not unread.reasoning_markers
    assert read.length == unread.length == "long"


def test_the_cut_falls_exactly_at_analysis_chars() -> None:
    assert categorize("x" * (ANALYSIS_CHARS - 3) + "```").has_code
    assert not categorize("x" * (ANALYSIS_CHARS - 2) + "```").has_code


@pytest.mark.parametrize("unit", ["word ", "why? what if ", "x = f(y);\n", "lol 🙂 ", "a"])
def test_a_megabyte_is_labelled_by_its_head(unit: str) -> None:
    text = unit * (1_000_000 // len(unit))
    labels = categorize(text)
    _check(labels)
    assert labels == categorize(text[:ANALYSIS_CHARS])
    assert len(embedding_text(text)) <= 2000
