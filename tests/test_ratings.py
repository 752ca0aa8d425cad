"""Bradley–Terry leaderboard: recovers known ratings, few votes stay modest, many approach maximum
likelihood; ties, empty and degenerate inputs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import minimize

from council.ratings import (INIT, PRIOR_SD, PROVISIONAL_VOTES, PairOutcome, fit_bradley_terry,
                             rate_personas)

TRUE = {1: 1200.0, 2: 1100.0, 3: 1000.0, 4: 900.0}


def simulate(votes: int = 500, seed: int = 0) -> list[PairOutcome]:
    """Votes between random pairs drawn from the Bradley–Terry model with TRUE ratings."""
    rng = np.random.default_rng(seed)
    ids = list(TRUE)
    outcomes = []
    for _ in range(votes):
        a, b = (ids[k] for k in rng.choice(len(ids), size=2, replace=False))
        p_a = 1.0 / (1.0 + 10.0 ** ((TRUE[b] - TRUE[a]) / 400.0))
        outcomes.append(PairOutcome(a, b) if rng.random() < p_a else PairOutcome(b, a))
    return outcomes


def by_persona(rows: list) -> dict:
    return {row.persona: row for row in rows}


def test_recovers_known_ratings_within_intervals() -> None:
    # Over 200 simulation seeds each interval held the truth 93% of the time, all four at once
    # 77%, and the order was right every time; this fixed seed is one where all four do.
    rows = rate_personas(simulate(), list(TRUE))
    assert [row.persona for row in rows] == [1, 2, 3, 4]
    shift = INIT - sum(TRUE.values()) / len(TRUE)
    for row in rows:
        assert row.lower <= row.rating <= row.upper
        assert row.lower <= TRUE[row.persona] + shift <= row.upper
        assert row.upper - row.lower < 150
    assert sum(row.rating for row in rows) / len(rows) == pytest.approx(INIT)
    assert sum(row.comparisons for row in rows) == 2 * 500


def log_posterior_mode(outcomes: list[PairOutcome], personas: list[int],
                       prior_sd: float | None) -> dict[int, float]:
    """The Bradley–Terry fit written out: maximise the log-likelihood (plus a N(INIT, prior_sd²)
    log prior on each rating, unless prior_sd is None: maximum likelihood), centred on INIT."""
    index = {p: k for k, p in enumerate(personas)}
    win = np.array([index[o.winner] for o in outcomes])
    lose = np.array([index[o.loser] for o in outcomes])
    score = np.array([0.5 if o.tie else 1.0 for o in outcomes])

    def loss(ratings: np.ndarray) -> float:
        diff = (ratings[win] - ratings[lose]) * math.log(10) / 400
        nll = np.sum(score * np.logaddexp(0, -diff) + (1 - score) * np.logaddexp(0, diff))
        return float(nll + (0 if prior_sd is None else np.sum(ratings ** 2) / (2 * prior_sd ** 2)))

    fitted = minimize(loss, np.zeros(len(personas)), method="BFGS", options={"gtol": 1e-9}).x
    return {p: float(r) for p, r in zip(personas, fitted - fitted.mean() + INIT)}


def test_point_ratings_are_the_posterior_mode_on_the_elo_scale() -> None:
    # 300 wins to 100: the likelihood alone puts them 400 * log10(3) apart; the prior (worth
    # about three comparisons) pulls that in by under half a percent.
    outcomes = [PairOutcome(1, 2)] * 300 + [PairOutcome(2, 1)] * 100
    ratings = fit_bradley_terry(outcomes, [1, 2])
    assert ratings[1] + ratings[2] == pytest.approx(2 * INIT)
    gap = ratings[1] - ratings[2]
    assert 0.995 * 400 * math.log10(3) < gap < 400 * math.log10(3)
    mode = log_posterior_mode(outcomes, [1, 2], PRIOR_SD)
    assert ratings == pytest.approx(mode, abs=0.01)
    few = simulate(12, seed=5)
    assert fit_bradley_terry(few, list(TRUE)) == pytest.approx(
        log_posterior_mode(few, list(TRUE), PRIOR_SD), abs=0.01)
    rows = by_persona(rate_personas(outcomes, [1, 2], bootstrap_rounds=20))
    assert rows[1].rating == pytest.approx(ratings[1])


def four_votes() -> list[list[PairOutcome]]:
    """Every way 4 votes can fall in a council of 4 with all 4 answers shown: each round's
    verdict is one of the personas best (beating the other 3) or a tie."""
    personas = [1, 2, 3, 4]

    def verdict(choice: int, group: int) -> list[PairOutcome]:
        if choice == 0:
            return [PairOutcome(a, b, tie=True, group=group)
                    for a, b in itertools.combinations(personas, 2)]
        return [PairOutcome(choice, other, group=group) for other in personas if other != choice]

    return [[o for group, choice in enumerate(choices) for o in verdict(choice, group)]
            for choices in itertools.combinations_with_replacement(range(5), 4)]


def test_four_votes_give_modest_ratings_and_positive_intervals() -> None:
    # The most lopsided case, one persona best in all 4 rounds, gives 1283 against 906;
    # maximum likelihood (the old fit) gave 2003 against 666.
    cases = four_votes()
    assert len(cases) == 70
    for outcomes in cases:
        for row in rate_personas(outcomes, [1, 2, 3, 4], bootstrap_rounds=20):
            assert 700 <= row.lower <= row.rating <= row.upper <= 1300, (outcomes, row)
            assert row.votes == 4 and row.provisional
    sweep = fit_bradley_terry(cases[-1], [1, 2, 3, 4])
    assert sweep[4] == pytest.approx(1283, abs=1) and sweep[1] == pytest.approx(906, abs=1)


def test_many_votes_approach_maximum_likelihood() -> None:
    ml_gap = []
    for votes in (200, 3000):
        outcomes = simulate(votes, seed=1)
        ml = log_posterior_mode(outcomes, list(TRUE), None)
        ratings = fit_bradley_terry(outcomes, list(TRUE))
        assert sorted(ratings, key=ratings.get) == sorted(ml, key=ml.get)
        ml_gap.append(max(abs(ratings[p] - ml[p]) for p in TRUE))
        # shrunk towards the average, never past it
        assert all(abs(ratings[p] - INIT) <= abs(ml[p] - INIT) for p in TRUE)
    assert ml_gap[1] < 1 and ml_gap[1] < ml_gap[0] / 5
    # The old fit (C=100, prior s.d. 5657) was maximum likelihood in all but name.
    old = fit_bradley_terry(outcomes, list(TRUE), prior_sd=5657)
    assert old == pytest.approx(ml, abs=0.01)


def test_provisional_below_the_stated_number_of_votes() -> None:
    # Votes are resampling units (rounds): many outcomes in one round are still one vote.
    personas = [1, 2, 3]
    one_round = [PairOutcome(1, 2, group=0), PairOutcome(1, 3, group=0)] * 10
    rows = by_persona(rate_personas(one_round, personas, bootstrap_rounds=5))
    assert [rows[p].votes for p in personas] == [1, 1, 1] and rows[1].comparisons == 20
    enough = [PairOutcome(1 + g % 2, 2 - g % 2, group=g) for g in range(PROVISIONAL_VOTES)]
    rows = by_persona(rate_personas(enough + [PairOutcome(3, 1, group=99)], personas,
                                    bootstrap_rounds=5))
    assert rows[2].votes == PROVISIONAL_VOTES and not rows[2].provisional
    assert rows[1].votes == PROVISIONAL_VOTES + 1 and not rows[1].provisional
    assert rows[3].votes == 1 and rows[3].provisional
    ungrouped = by_persona(rate_personas([PairOutcome(1, 2)] * PROVISIONAL_VOTES, [1, 2],
                                         bootstrap_rounds=5))
    assert ungrouped[2].votes == PROVISIONAL_VOTES and not ungrouped[2].provisional


def test_ties_count_half() -> None:
    only_ties = [PairOutcome(1, 2, tie=True), PairOutcome(2, 1, tie=True)] * 3
    ratings = fit_bradley_terry(only_ties, [1, 2])
    assert ratings[1] == pytest.approx(INIT) and ratings[2] == pytest.approx(INIT)
    # Two ties are one win each way: 3 wins + 2 ties == 4 wins to 1.
    with_ties = [PairOutcome(1, 2)] * 3 + [PairOutcome(1, 2, tie=True)] * 2
    plain = [PairOutcome(1, 2)] * 4 + [PairOutcome(2, 1)]
    assert fit_bradley_terry(with_ties, [1, 2]) == pytest.approx(fit_bradley_terry(plain, [1, 2]))


def test_persona_without_outcomes_gets_init() -> None:
    rows = by_persona(rate_personas(simulate(100), [*TRUE, 9], bootstrap_rounds=30))
    assert rows[9].rating == rows[9].lower == rows[9].upper == INIT
    assert rows[9].comparisons == rows[9].votes == 0 and rows[9].provisional
    assert sum(rows[p].rating for p in TRUE) / len(TRUE) == pytest.approx(INIT)


def test_empty_and_single_persona() -> None:
    assert fit_bradley_terry([], []) == {}
    assert rate_personas([], []) == []
    rows = rate_personas([], [3, 1, 2])
    assert [row.persona for row in rows] == [1, 2, 3]
    assert all(r.rating == r.lower == r.upper == INIT and r.comparisons == 0 for r in rows)
    assert fit_bradley_terry([], [5]) == {5: INIT}


def test_dominant_persona_is_finite_and_on_top() -> None:
    outcomes = ([PairOutcome(1, 2)] * 10 + [PairOutcome(1, 3)] * 5
                + [PairOutcome(2, 3)] * 3 + [PairOutcome(3, 2)] * 2)
    rows = rate_personas(outcomes, [1, 2, 3], bootstrap_rounds=50)
    assert [row.persona for row in rows] == [1, 2, 3]
    assert all(math.isfinite(v) for r in rows for v in (r.rating, r.lower, r.upper))
    assert rows[0].rating > rows[1].rating + 200
    assert rows[0].upper < INIT + 2 * PRIOR_SD and all(r.lower > INIT - 2 * PRIOR_SD for r in rows)


def test_deterministic_for_a_seed() -> None:
    outcomes = simulate(200)
    first = rate_personas(outcomes, list(TRUE), bootstrap_rounds=50, seed=3)
    assert rate_personas(outcomes, list(TRUE), bootstrap_rounds=50, seed=3) == first
    assert rate_personas(outcomes, list(TRUE), bootstrap_rounds=50, seed=4) != first


def test_bootstrap_resamples_whole_groups() -> None:
    # Everything in one round: every resample is the full data, so the interval collapses.
    outcomes = [PairOutcome(o.winner, o.loser, group=1) for o in simulate(100)]
    for row in rate_personas(outcomes, list(TRUE), bootstrap_rounds=20):
        assert row.lower == pytest.approx(row.rating) and row.upper == pytest.approx(row.rating)
    ungrouped = rate_personas(simulate(100), list(TRUE), bootstrap_rounds=20)
    assert all(row.upper - row.lower > 1 for row in ungrouped)


def test_sorted_best_first_and_invalid_outcomes() -> None:
    rows = rate_personas(simulate(200), [4, 3, 2, 1], bootstrap_rounds=10)
    assert [row.rating for row in rows] == sorted((row.rating for row in rows), reverse=True)
    with pytest.raises(ValueError, match="not in personas"):
        fit_bradley_terry([PairOutcome(1, 8)], [1, 2])
    with pytest.raises(ValueError, match="itself"):
        rate_personas([PairOutcome(1, 1)], [1])
