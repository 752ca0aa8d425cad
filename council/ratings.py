"""Bradley–Terry ratings on the Elo scale with bootstrap intervals: the leaderboard's arithmetic.

Fitted as Chatbot Arena does: each outcome is a row of a logistic regression without intercept,
+log(BASE) in the winner's column and -log(BASE) in the loser's, so the coefficients are the
personas' strengths and P(a beats b) = 1 / (1 + BASE ** ((R_b - R_a) / SCALE)) with
R = SCALE * coefficient. Order-independent maximum likelihood, unlike online Elo updates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

SCALE = 400.0
BASE = 10.0
INIT = 1000.0
# Inverse L2 strength. scikit-learn 1.9 deprecates `penalty=None` (C=np.inf is its spelling), but
# an unpenalised fit has no optimum when a persona always wins: the solver wanders off and gives
# solver-dependent ratings. C=100 is a Gaussian prior with s.d. ~5,600 Elo per persona (each
# outcome is counted twice below): it moves the ratings of real data by hundredths of a point yet
# keeps a dominant persona finite and reproducible. newton-cholesky (exact second order, few
# features) with tol=1e-8 converges in ~5-15 iterations, far below max_iter: no warnings.
C = 100.0
_MODEL = {"C": C, "fit_intercept": False, "solver": "newton-cholesky", "tol": 1e-8,
          "max_iter": 1000}


@dataclass(frozen=True)
class PairOutcome:
    """One vote: `winner`'s answer was preferred to `loser`'s (or neither, when `tie`)."""

    winner: int
    loser: int
    tie: bool = False  # counts half a win each way
    group: int | None = None  # e.g. the round id; the bootstrap resamples whole groups


@dataclass(frozen=True)
class RatingInterval:
    """A leaderboard row: Elo-scale rating and its 95% bootstrap interval."""

    persona: int
    rating: float
    lower: float
    upper: float
    comparisons: int


def _encode(outcomes: Sequence[PairOutcome],
            personas: Sequence[int]) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
    """Persona ids (deduplicated, in order) and winner/loser indices and tie flags per outcome."""
    ids = list(dict.fromkeys(personas))
    index = {persona: k for k, persona in enumerate(ids)}
    for outcome in outcomes:
        if outcome.winner == outcome.loser:
            raise ValueError(f"persona {outcome.winner} cannot be compared with itself")
        for persona in (outcome.winner, outcome.loser):
            if persona not in index:
                raise ValueError(f"an outcome names persona {persona}, which is not in personas")
    win = np.array([index[o.winner] for o in outcomes], dtype=np.intp)
    lose = np.array([index[o.loser] for o in outcomes], dtype=np.intp)
    tie = np.array([o.tie for o in outcomes], dtype=bool)
    return ids, win, lose, tie


def _wins(win: np.ndarray, lose: np.ndarray, tie: np.ndarray, weight: np.ndarray,
          n: int) -> np.ndarray:
    """W[i, j]: weighted wins of i over j; a tie adds half to each direction."""
    half = np.where(tie, 0.5, 1.0) * weight
    forward = np.bincount(win * n + lose, weights=half, minlength=n * n)
    backward = np.bincount(lose * n + win, weights=np.where(tie, half, 0.0), minlength=n * n)
    return (forward + backward).reshape(n, n)


def _fit(wins: np.ndarray) -> np.ndarray:
    """Elo ratings from a win matrix: NaN where a persona has no weight, others mean INIT.

    Rows are aggregated per ordered pair (count as sample weight), so a fit costs the same for
    ten votes or a million. Each row is also added mirrored with y=0, which makes both classes
    present even when every vote went one way and leaves the likelihood's optimum unchanged.
    """
    ratings = np.full(len(wins), np.nan)
    rated = np.flatnonzero(wins.sum(axis=0) + wins.sum(axis=1) > 0)
    if rated.size == 0:
        return ratings
    sub = wins[np.ix_(rated, rated)]
    i, j = np.nonzero(sub)
    m, rows, step = len(i), np.arange(len(i)), math.log(BASE)
    x = np.zeros((2 * m, len(rated)))
    x[rows, i] = x[m + rows, j] = step
    x[rows, j] = x[m + rows, i] = -step
    y = np.concatenate([np.ones(m), np.zeros(m)])
    model = LogisticRegression(**_MODEL).fit(x, y, sample_weight=np.tile(sub[i, j], 2))
    strengths = SCALE * model.coef_[0]
    ratings[rated] = strengths - strengths.mean() + INIT
    return ratings


def fit_bradley_terry(outcomes: Sequence[PairOutcome], personas: Sequence[int]) -> dict[int, float]:
    """Elo-scale ratings; personas with no outcomes get INIT."""
    ids, win, lose, tie = _encode(outcomes, personas)
    ratings = _fit(_wins(win, lose, tie, np.ones(len(win)), len(ids)))
    return {persona: float(INIT if math.isnan(r) else r) for persona, r in zip(ids, ratings)}


def _group_index(outcomes: Sequence[PairOutcome]) -> np.ndarray:
    """Outcome -> resampling unit: its group, or itself when it has none."""
    units: dict[tuple[str, int], int] = {}
    keys = [("group", o.group) if o.group is not None else ("outcome", k)
            for k, o in enumerate(outcomes)]
    return np.array([units.setdefault(key, len(units)) for key in keys], dtype=np.intp)


def rate_personas(outcomes: Sequence[PairOutcome], personas: Sequence[int],
                  bootstrap_rounds: int = 200, seed: int = 0) -> list[RatingInterval]:
    """Ratings with bootstrap intervals, best first. Deterministic for a seed.

    Votes from one round are not independent, so when outcomes carry a `group` whole groups are
    resampled. A persona absent from a resample is left out of that round's percentiles.
    """
    if bootstrap_rounds < 0:
        raise ValueError("bootstrap_rounds must be at least 0")
    ids, win, lose, tie = _encode(outcomes, personas)
    n = len(ids)
    point = _fit(_wins(win, lose, tie, np.ones(len(win)), n))
    units = _group_index(outcomes)
    n_units = len(set(units.tolist()))
    rng = np.random.default_rng(seed)
    samples = np.full((bootstrap_rounds if n_units else 0, n), np.nan)
    for r in range(len(samples)):
        counts = np.bincount(rng.integers(0, n_units, n_units), minlength=n_units)
        samples[r] = _fit(_wins(win, lose, tie, counts[units].astype(float), n))
    comparisons = np.bincount(np.concatenate([win, lose]), minlength=n)
    rows = []
    for k, persona in enumerate(ids):
        rating = INIT if math.isnan(point[k]) else float(point[k])
        seen = samples[:, k][~np.isnan(samples[:, k])]
        lower, upper = np.percentile(seen, [2.5, 97.5]) if seen.size else (rating, rating)
        rows.append(RatingInterval(persona, rating, float(lower), float(upper),
                                   int(comparisons[k])))
    return sorted(rows, key=lambda row: (-row.rating, row.persona))
