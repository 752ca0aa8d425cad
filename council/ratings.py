"""Bradley–Terry ratings on the Elo scale with bootstrap intervals: the leaderboard's arithmetic.

Fitted as Chatbot Arena does: each outcome is a row of a logistic regression without intercept,
+log(BASE) in the winner's column and -log(BASE) in the loser's, so the coefficients are the
personas' strengths and P(a beats b) = 1 / (1 + BASE ** ((R_b - R_a) / SCALE)) with
R = SCALE * coefficient. Order-independent, unlike online Elo updates.

Unlike Chatbot Arena (millions of votes) a council has a handful, and maximum likelihood then
rates a persona that won 4 rounds out of 4 at 2003 against 666 (4 personas shown), and one that
never won has no finite rating at all. So the fit is the posterior mode under a Gaussian prior:
every persona's rating is N(INIT, PRIOR_SD**2) before any vote, which is the logistic
regression's L2 penalty with the C of `_penalty`. PRIOR_SD = 200 says that a persona rated 400
above the average one (winning 91% of their comparisons) is a two-sigma exception. Figures from
`python -m bench.ratings` (simulated councils of 6 personas, 3 answers shown a round, the best
drawn from the Bradley–Terry model; 200 councils a cell): the rms error in Elo points of the
ratings against the true ones, for a true spread (s.d.) of 100 / 200 / 300:

    votes   prior s.d. 100   150          200          300          5657 (the old C=100)
    4       86/164/255       95/157/239   110/157/228  147/168/217  693/626/556
    30      63/105/175       70/91/146    78/90/130    89/100/118   171/305/350
    300     26/39/72         27/35/55     28/35/49     28/36/46     28/49/96

200 is the best prior, or within 10% of it, for true spreads of 200 and 300, at most 35% worse
than the best for a spread of 100, and two to six times better than maximum likelihood with 4
to 30 votes. After 4 votes the most lopsided result (one
persona best in every round) rates it 1227 with 3 answers shown a round, 1283 with 4 and 1358
with 6. With many votes the likelihood outweighs the prior (worth about three comparisons with
an equal opponent) and the ratings approach the maximum-likelihood fit.

A rating is *provisional* while its persona has been compared in fewer than PROVISIONAL_VOTES
votes (rounds). In the same simulations (true s.d. 200, 100 bootstrap resamples), ratings from
0-4 votes were off by 139 (rms) and their 95% intervals held the truth 57% of the time; 5-9
votes: 116 and 78%; 10-14: 97 and 84%; 15-19: 77 and 89%; 30-34: 60 and 91%. From 15 votes the
error is under 80 points and the intervals come close to what they claim.
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
PRIOR_SD = 200.0  # s.d. of a persona's rating before any vote, in Elo points
PROVISIONAL_VOTES = 15  # fewer votes than this and the rating is marked provisional
# The prior also keeps a persona that always wins finite, so the fit has one optimum;
# newton-cholesky (exact second order, few features) with tol=1e-8 converges in a handful of
# iterations, far below max_iter: no warnings.
_MODEL = {"fit_intercept": False, "solver": "newton-cholesky", "tol": 1e-8, "max_iter": 1000}


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
    votes: int  # resampling units (in the app: rounds with a verdict) it was compared in

    @property
    def provisional(self) -> bool:
        """Too few votes for the rating to mean much yet (see PROVISIONAL_VOTES)."""
        return self.votes < PROVISIONAL_VOTES


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


def _penalty(prior_sd: float) -> float:
    """The logistic regression's C for a N(INIT, prior_sd**2) prior on each rating: the loss
    counts every outcome twice (see `_fit`), so C * 2 * loss + |w|**2 / 2 is the negative log
    posterior with variance 2C per coefficient, and a coefficient is a rating / SCALE."""
    return (prior_sd / SCALE) ** 2 / 2


def _fit(wins: np.ndarray, prior_sd: float) -> np.ndarray:
    """Elo ratings from a win matrix: NaN where a persona has no weight, others mean INIT.

    Rows are aggregated per ordered pair (count as sample weight), so a fit costs the same for
    ten votes or a million. Each row is also added mirrored with y=0, which makes both classes
    present even when every vote went one way and leaves the optimum unchanged. The prior
    centres the strengths on zero already; subtracting their mean removes the solver's residue.
    """
    ratings = np.full(len(wins), np.nan)
    rated = np.flatnonzero(wins.sum(axis=0) + wins.sum(axis=1) > 0)
    if rated.size == 0:
        return ratings
    sub = wins[np.ix_(rated, rated)]
    if np.array_equal(sub, sub.T):
        # every pair won as often as it lost (a bootstrap resample of ties can be): the optimum
        # is everyone equal, the solver's starting point, where Newton's line search finds
        # nothing to gain and warns on some CPUs' floating point
        ratings[rated] = INIT
        return ratings
    i, j = np.nonzero(sub)
    m, rows, step = len(i), np.arange(len(i)), math.log(BASE)
    x = np.zeros((2 * m, len(rated)))
    x[rows, i] = x[m + rows, j] = step
    x[rows, j] = x[m + rows, i] = -step
    y = np.concatenate([np.ones(m), np.zeros(m)])
    model = LogisticRegression(C=_penalty(prior_sd), **_MODEL).fit(
        x, y, sample_weight=np.tile(sub[i, j], 2))
    strengths = SCALE * model.coef_[0]
    ratings[rated] = strengths - strengths.mean() + INIT
    return ratings


def fit_bradley_terry(outcomes: Sequence[PairOutcome], personas: Sequence[int],
                      prior_sd: float = PRIOR_SD) -> dict[int, float]:
    """Elo-scale ratings; personas with no outcomes get INIT."""
    ids, win, lose, tie = _encode(outcomes, personas)
    ratings = _fit(_wins(win, lose, tie, np.ones(len(win)), len(ids)), prior_sd)
    return {persona: float(INIT if math.isnan(r) else r) for persona, r in zip(ids, ratings)}


def _group_index(outcomes: Sequence[PairOutcome]) -> np.ndarray:
    """Outcome -> resampling unit: its group, or itself when it has none."""
    units: dict[tuple[str, int], int] = {}
    keys = [("group", o.group) if o.group is not None else ("outcome", k)
            for k, o in enumerate(outcomes)]
    return np.array([units.setdefault(key, len(units)) for key in keys], dtype=np.intp)


def rate_personas(outcomes: Sequence[PairOutcome], personas: Sequence[int],
                  bootstrap_rounds: int = 200, seed: int = 0,
                  prior_sd: float = PRIOR_SD) -> list[RatingInterval]:
    """Ratings with bootstrap intervals, best first. Deterministic for a seed.

    Votes from one round are not independent, so when outcomes carry a `group` whole groups are
    resampled. A persona absent from a resample is left out of that round's percentiles.
    """
    if bootstrap_rounds < 0:
        raise ValueError("bootstrap_rounds must be at least 0")
    ids, win, lose, tie = _encode(outcomes, personas)
    n = len(ids)
    point = _fit(_wins(win, lose, tie, np.ones(len(win)), n), prior_sd)
    units = _group_index(outcomes)
    n_units = len(set(units.tolist()))
    rng = np.random.default_rng(seed)
    samples = np.full((bootstrap_rounds if n_units else 0, n), np.nan)
    for r in range(len(samples)):
        counts = np.bincount(rng.integers(0, n_units, n_units), minlength=n_units)
        samples[r] = _fit(_wins(win, lose, tie, counts[units].astype(float), n), prior_sd)
    comparisons = np.bincount(np.concatenate([win, lose]), minlength=n)
    votes = [len(set(units[(win == k) | (lose == k)].tolist())) for k in range(n)]
    rows = []
    for k, persona in enumerate(ids):
        rating = INIT if math.isnan(point[k]) else float(point[k])
        seen = samples[:, k][~np.isnan(samples[:, k])]
        lower, upper = np.percentile(seen, [2.5, 97.5]) if seen.size else (rating, rating)
        rows.append(RatingInterval(persona, rating, float(lower), float(upper),
                                   int(comparisons[k]), votes[k]))
    return sorted(rows, key=lambda row: (-row.rating, row.persona))
