"""Sentiment-aware generation: calmer sampling on upset messages, freer on happy ones."""

from __future__ import annotations

from ..config import Settings


def tune_for_sentiment(temperature: float, top_p: float, compound: float,
                       settings: Settings) -> tuple[float, float]:
    """Scale a persona's temperature and top-p by the message's VADER compound (-1..1).

    A strongly negative message lowers both (by up to `sentiment_swing`, e.g. 25%), a positive
    one raises them; the results stay inside the configured bounds (or at the persona's own
    setting, where the user chose one outside them).
    """
    factor = 1.0 + settings.sentiment_swing * compound
    low_t, high_t = settings.temperature_bounds
    low_p, high_p = settings.top_p_bounds
    tuned_t = min(max(temperature * factor, min(low_t, temperature)), max(high_t, temperature))
    tuned_p = min(max(top_p * (1.0 + settings.sentiment_swing * compound / 2), min(low_p, top_p)),
                  max(high_p, top_p))
    return round(tuned_t, 3), round(tuned_p, 3)
