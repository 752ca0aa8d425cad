"""Routing rules a persona may declare, e.g. in its YAML:

    routing:
      prefer: [negative, question:why]     # conditions that raise its logit
      avoid: [keyword:deadline, code]      # conditions that lower it
      min_weight: 0.1                      # never below / above these weights
      max_weight: 0.6

Conditions: negative, positive (VADER compound ≤ -0.3 / ≥ 0.3), code, short, medium, long
(the message's length bucket), keyword:<word>, and any trait of `council.features.traits`,
the labels discovery reports for a cluster: question:<type> (or question:other for none),
topic:<topic>, tone:<tone>, reasoning:<marker>.
"""

from __future__ import annotations

from typing import Any

from ..features import MessageFeatures
from ..features.traits import LENGTHS, QUESTION_TYPES, REASONING_MARKERS, TONES, TOPICS

RULE_KEYS = ("prefer", "avoid", "min_weight", "max_weight")
PLAIN_CONDITIONS = ("negative", "positive", "code", *LENGTHS)
TRAIT_CONDITIONS: dict[str, tuple[str, ...]] = {
    "question": (*QUESTION_TYPES, "other"), "topic": TOPICS, "tone": TONES,
    "reasoning": REASONING_MARKERS}
# Names earlier versions accepted, as stored in existing personas' rules.
ALIASES = {"question:should": "question:should_i"}


class RuleError(ValueError):
    pass


def _check_condition(condition: Any) -> str:
    if not isinstance(condition, str):
        raise RuleError(f"a condition must be text, not {condition!r}")
    condition = ALIASES.get(condition, condition)
    kind, _, value = condition.partition(":")
    if condition in PLAIN_CONDITIONS or (kind == "keyword" and value.strip()):
        return condition
    if value in TRAIT_CONDITIONS.get(kind, ()):
        return condition
    traits = ", ".join(f"{kind}:<{'|'.join(values)}>" for kind, values in TRAIT_CONDITIONS.items())
    raise RuleError(f"unknown condition {condition!r}; use one of {', '.join(PLAIN_CONDITIONS)}, "
                    f"keyword:<word>, {traits}")


def validate_rules(rules: Any) -> dict[str, Any]:
    """Clean a persona's routing rules or raise `RuleError` saying what is wrong."""
    if rules in (None, "", {}):
        return {}
    if not isinstance(rules, dict):
        raise RuleError("routing rules must be a mapping with prefer / avoid / min_weight / "
                        "max_weight")
    unknown = set(rules) - set(RULE_KEYS)
    if unknown:
        raise RuleError(f"unknown routing keys {sorted(unknown)}; use {', '.join(RULE_KEYS)}")
    clean: dict[str, Any] = {}
    for key in ("prefer", "avoid"):
        conditions = rules.get(key) or []
        if not isinstance(conditions, list):
            raise RuleError(f"{key} must be a list of conditions")
        if conditions:
            clean[key] = [_check_condition(c) for c in conditions]
    for key in ("min_weight", "max_weight"):
        if rules.get(key) is not None:
            value = rules[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0 <= value <= 1:
                raise RuleError(f"{key} must be a number from 0 to 1")
            clean[key] = float(value)
    if clean.get("min_weight", 0) > clean.get("max_weight", 1):
        raise RuleError("min_weight is above max_weight")
    return clean


def condition_holds(condition: str, features: MessageFeatures, text: str) -> bool:
    compound = features.sentiment["compound"]
    traits = features.traits
    kind, _, value = ALIASES.get(condition, condition).partition(":")
    if kind == "keyword":
        return value.lower() in text.lower()
    holds = {"negative": compound <= -0.3, "positive": compound >= 0.3,
             "code": traits.has_code, "question": value in traits.question_types
             or (value == "other" and not traits.question_types),
             "topic": traits.topic == value, "tone": traits.tone == value,
             "reasoning": value in traits.reasoning_markers}
    return holds.get(kind, traits.length == kind)


def rule_adjustment(rules: dict[str, Any], features: MessageFeatures, text: str,
                    strength: float) -> tuple[float, list[str]]:
    """The logit change the persona's own rules ask for on this message, and why."""
    change, reasons = 0.0, []
    for key, sign in (("prefer", 1.0), ("avoid", -1.0)):
        for condition in rules.get(key, []):
            if condition_holds(condition, features, text):
                change += sign * strength
                reasons.append(f"{key}s {condition}")
    return change, reasons
