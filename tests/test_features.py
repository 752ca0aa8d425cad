"""One message taxonomy (council/features): the router's rules name the traits discovery finds."""

from __future__ import annotations

import numpy as np
import pytest

from council.features import FeatureExtractor
from council.features.traits import (
    LENGTHS,
    QUESTION_TYPES,
    REASONING_MARKERS,
    TONES,
    TOPICS,
    categorize,
)
from council.router.rules import RuleError, condition_holds, validate_rules

MESSAGES = [
    "Should I buy or rent a house in Amsterdam? I think renting is cheaper because of tax.",
    "What if we built a city with no cars? Imagine the streets!",
    "```python\ndef add(a, b):\n    return a - b\n```\nWhy does this return the wrong sum?",
    "lol can u write me a poem about my dog",
]


class ZeroEmbedder:
    name = "zero"

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.zeros((len(texts), 4), dtype=np.float32)


@pytest.fixture(scope="module")
def extractor() -> FeatureExtractor:
    return FeatureExtractor(ZeroEmbedder())


def trait_conditions(text: str) -> set[str]:
    """Every rule condition that names a trait discovery's categorisation gave `text`."""
    traits = categorize(text)
    return ({f"topic:{traits.topic}", f"tone:{traits.tone}", traits.length}
            | {f"question:{q}" for q in traits.question_types}
            | {f"reasoning:{r}" for r in traits.reasoning_markers}
            | ({"code"} if traits.has_code else set()))


def every_trait_condition() -> set[str]:
    return ({f"topic:{t}" for t in TOPICS} | {f"tone:{t}" for t in TONES} | set(LENGTHS)
            | {f"question:{q}" for q in QUESTION_TYPES}
            | {f"reasoning:{r}" for r in REASONING_MARKERS} | {"code"})


@pytest.mark.parametrize("text", MESSAGES)
def test_a_rule_holds_exactly_for_the_traits_discovery_found(extractor: FeatureExtractor,
                                                             text: str) -> None:
    features = extractor.extract(text)
    found = trait_conditions(text)
    assert found <= every_trait_condition(), "every trait found is one a rule can name"
    for condition in sorted(every_trait_condition()):
        assert validate_rules({"prefer": [condition]}) == {"prefer": [condition]}
        assert condition_holds(condition, features, text) == (condition in found), condition


def test_the_round_stores_the_traits_the_rules_read(extractor: FeatureExtractor) -> None:
    summary = extractor.extract(MESSAGES[0]).summary()
    traits = categorize(MESSAGES[0])
    assert summary["question_types"] == traits.question_types
    assert "should_i" in summary["question_types"] and summary["topic"] == traits.topic
    assert "embedding" not in summary and summary["words"] == len(MESSAGES[0].split())


def test_question_other_holds_only_without_a_question(extractor: FeatureExtractor) -> None:
    statement = "The deploy went fine today."
    assert condition_holds("question:other", extractor.extract(statement), statement)
    assert not condition_holds("question:other", extractor.extract(MESSAGES[1]), MESSAGES[1])


def test_the_old_should_condition_still_works(extractor: FeatureExtractor) -> None:
    """Personas saved before the shared taxonomy say `question:should`."""
    assert validate_rules({"prefer": ["question:should"]}) == {"prefer": ["question:should_i"]}
    features = extractor.extract(MESSAGES[0])
    assert condition_holds("question:should", features, MESSAGES[0])
    assert not condition_holds("question:should", extractor.extract(MESSAGES[1]), MESSAGES[1])


@pytest.mark.parametrize("condition", ["topic:cooking", "tone:angry", "question:when",
                                       "reasoning:gut_feeling", "lengthy"])
def test_a_trait_outside_the_taxonomy_is_refused_with_the_choices(condition: str) -> None:
    with pytest.raises(RuleError) as refused:
        validate_rules({"avoid": [condition]})
    message = str(refused.value)
    assert condition in message and "topic:<programming|data_ml|" in message
    assert "question:<what_if|should_i|" in message
