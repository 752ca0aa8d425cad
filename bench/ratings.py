"""Which prior makes few votes give modest ratings, and when a rating stops being provisional.

Simulated councils: `--personas` personas with true ratings drawn from N(INIT, spread**2)
(centred), `--shown` answers per round, the round's best drawn from the Bradley–Terry model
(P(best = i) proportional to BASE ** (R_i / SCALE)); each round's verdict becomes pairwise
outcomes as `council.votes.pairwise_outcomes` makes them (the best beats every other answer
shown). No database, no LLM.

    .venv/bin/python -m bench.ratings [--councils 200] [--personas 6] [--shown 3] [--seed 0]

Prints, for each true spread and number of votes, the root-mean-square error of the ratings
against the truth under each prior s.d. (5657 is the old C=100 fit: practically maximum
likelihood); then, with the chosen PRIOR_SD and a 100-resample bootstrap, the error and the
share of 95% intervals holding the truth by how many votes a persona was compared in.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

from council.ratings import (BASE, INIT, PRIOR_SD, SCALE, PairOutcome, fit_bradley_terry,
                             rate_personas)

PRIORS = (100.0, 150.0, 200.0, 300.0, 5657.0)
SPREADS = (100.0, 200.0, 300.0)
VOTES = (4, 10, 30, 100, 300)


def council(rng: np.random.Generator, personas: int, spread: float) -> dict[int, float]:
    """True ratings, averaging INIT."""
    true = rng.normal(0.0, spread, personas)
    return {k + 1: INIT + float(v) for k, v in enumerate(true - true.mean())}


def rounds(rng: np.random.Generator, true: dict[int, float], votes: int,
           shown: int) -> list[PairOutcome]:
    """`votes` rounds, each a best answer among `shown` random personas."""
    ids = list(true)
    outcomes = []
    for group in range(votes):
        answers = [ids[k] for k in rng.choice(len(ids), shown, replace=False)]
        strength = np.array([BASE ** (true[p] / SCALE) for p in answers])
        best = answers[rng.choice(shown, p=strength / strength.sum())]
        outcomes += [PairOutcome(best, p, group=group) for p in answers if p != best]
    return outcomes


def rms(errors: Sequence[float]) -> float:
    return float(np.sqrt(np.mean(np.square(errors))))


def prior_table(args: argparse.Namespace, rng: np.random.Generator) -> None:
    print(f"rms error (Elo) of the ratings; columns: prior s.d. {', '.join(map(str, PRIORS))}")
    for spread in SPREADS:
        for votes in VOTES:
            sims = []
            for _ in range(args.councils):
                true = council(rng, args.personas, spread)
                sims.append((true, rounds(rng, true, votes, args.shown)))
            cells = []
            for prior in PRIORS:
                errors = [fitted[p] - true[p] for true, outcomes in sims
                          for fitted in [fit_bradley_terry(outcomes, list(true), prior)]
                          for p in true]
                cells.append(f"{rms(errors):6.0f}")
            print(f"true s.d. {spread:4.0f}, {votes:3d} votes:" + "".join(cells))


def provisional_table(args: argparse.Namespace, rng: np.random.Generator) -> None:
    print(f"prior s.d. {PRIOR_SD:.0f}, true s.d. 200, by votes a persona was compared in:")
    bins: dict[int, list[tuple[float, bool]]] = {}
    for seed in range(args.councils // 4):
        true = council(rng, args.personas, 200.0)
        for votes in (6, 12, 20, 30, 40, 60, 80):
            for row in rate_personas(rounds(rng, true, votes, args.shown), list(true),
                                     bootstrap_rounds=100, seed=seed):
                if not row.votes:
                    continue  # never shown: INIT by definition, nothing estimated
                hit = row.lower <= true[row.persona] <= row.upper
                bins.setdefault(min(row.votes // 5 * 5, 40), []).append(
                    (row.rating - true[row.persona], hit))
    for start, cell in sorted(bins.items()):
        errors, hits = zip(*cell)
        label = f"{start}-{start + 4}" if start < 40 else "40+"
        print(f"  {label:>5} votes: rms error {rms(errors):4.0f}, "
              f"interval holds the truth {np.mean(hits):.0%} ({len(cell)} ratings)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--councils", type=int, default=200, help="simulated councils a cell")
    parser.add_argument("--personas", type=int, default=6, help="personas in a council")
    parser.add_argument("--shown", type=int, default=3, help="answers shown in a round")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulations")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    prior_table(args, rng)
    provisional_table(args, rng)


if __name__ == "__main__":
    main()
