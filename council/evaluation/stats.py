"""The figures an evaluation reports, each with its uncertainty: a win rate with ties as half
and its bootstrap interval over questions, the length-controlled win rate (AlpacaEval 2.0's
idea: the win rate a logistic model predicts when both answers are equally long), and an
accuracy with its Wilson interval.

Pure functions over plain numbers: the app's compare section and `council eval` share them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

WIN, TIE, LOSS = 1.0, 0.5, 0.0
LEVEL = 0.95
BOOTSTRAP_ROUNDS = 2000
BOOTSTRAP_SEED = 20261207  # fixed: the same verdicts always give the same interval
PROVISIONAL_BELOW = 10  # fewer verdicts than this and a win rate is marked provisional


@dataclass(frozen=True)
class WinRate:
    """Wins, losses and ties of one side against another, the rate with ties as half, and its
    95% interval (None while there is nothing to count)."""

    wins: int
    losses: int
    ties: int
    rate: float | None
    low: float | None
    high: float | None

    @property
    def verdicts(self) -> int:
        return self.wins + self.losses + self.ties

    @property
    def provisional(self) -> bool:
        return self.verdicts < PROVISIONAL_BELOW

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdicts": self.verdicts, "provisional": self.provisional}


def bootstrap_interval(values: Sequence[float], rounds: int = BOOTSTRAP_ROUNDS,
                       seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """The percentile interval of the mean, resampling the values (one per question or
    verdict) with replacement; a fixed seed, so a page shows the same figure on every load."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("no values to resample")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(rounds, data.size))].mean(axis=1)
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def win_rate(scores: Sequence[float]) -> WinRate:
    """From one score per question (WIN, TIE or LOSS for the side being rated)."""
    wins = sum(1 for s in scores if s == WIN)
    losses = sum(1 for s in scores if s == LOSS)
    ties = sum(1 for s in scores if s == TIE)
    if wins + losses + ties != len(scores):
        raise ValueError("a score is not 1, 0.5 or 0")
    if not scores:
        return WinRate(0, 0, 0, None, None, None)
    low, high = bootstrap_interval(scores)
    return WinRate(wins, losses, ties, float(np.mean(scores)), low, high)


def length_controlled_win_rate(scores: Sequence[float],
                               length_differences: Sequence[float]) -> float | None:
    """The win rate with the answers' length difference taken out.

    A logistic model predicts the score from tanh(difference / its spread) plus a constant,
    both under the same L2 penalty (a judge that only rewards length then leaves the
    constant near zero); the length-controlled rate is the model's prediction at no
    difference. A tie counts as half a win and half a loss. None without scores; the raw
    rate when every answer pair is equally long.
    """
    from sklearn.linear_model import LogisticRegression

    if len(scores) != len(length_differences):
        raise ValueError("one length difference per score")
    if not scores:
        return None
    y = np.asarray(scores, dtype=float)
    diffs = np.asarray(length_differences, dtype=float)
    spread = float(np.std(diffs))
    if spread == 0:
        return float(y.mean())
    if np.all(y == y[0]) and y[0] != TIE:  # one class only: nothing to separate
        return float(y[0])
    x = np.tanh(diffs / spread)
    features = np.column_stack([x, np.ones_like(x)])
    rows = np.concatenate([features, features])
    labels = np.concatenate([np.ones_like(y), np.zeros_like(y)])
    weights = np.concatenate([y, 1 - y])
    keep = weights > 0
    model = LogisticRegression(fit_intercept=False, C=1.0)
    model.fit(rows[keep], labels[keep], sample_weight=weights[keep])
    return float(1 / (1 + math.exp(-model.coef_[0][1])))


def wilson_interval(successes: int, trials: int) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (exact-match accuracy); None with no trials."""
    if trials == 0:
        return None
    z = 1.959963984540054
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) \
        / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)
