"""Routing rules a persona may declare, e.g. in its YAML:

    routing:
      prefer: [negative, question:why]     # conditions that raise its logit
      avoid: [keyword:deadline, code]      # conditions that lower it
      min_weight: 0.1                      # never below / above these weights
      max_weight: 0.6

Conditions: negative, positive (VADER compound ≤ -0.3 / ≥ 0.3), code, long (> 80 words),
short (< 12 words), question:<how|why|what|what_if|should|compare|other>, keyword:<word>.
"""

from __future__ import annotations

from typing import Any

from .features import QUESTION_TYPES, MessageFeatures

RULE_KEYS = ("prefer", "avoid", "min_weight", "max_weight")
PLAIN_CONDITIONS = ("negative", "positive", "code", "long", "short")
QUESTION_NAMES = tuple(name for name, _ in QUESTION_TYPES) + ("other",)


class RuleError(ValueError):
    pass


def _check_condition(condition: Any) -> str:
    if not isinstance(condition, str):
        raise RuleError(f"a condition must be text, not {condition!r}")
    kind, _, value = condition.partition(":")
    if condition in PLAIN_CONDITIONS or (kind == "keyword" and value.strip()):
        return condition
    if kind == "question" and value in QUESTION_NAMES:
        return condition
    raise RuleError(f"unknown condition {condition!r}; use one of {', '.join(PLAIN_CONDITIONS)}, "
                    f"question:<{'|'.join(QUESTION_NAMES)}> or keyword:<word>")


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
    kind, _, value = condition.partition(":")
    checks = {"negative": compound <= -0.3, "positive": compound >= 0.3,
              "code": features.has_code, "long": features.words > 80,
              "short": features.words < 12}
    if condition in checks:
        return checks[condition]
    if kind == "question":
        return features.question_type == value
    return value.lower() in text.lower()


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
