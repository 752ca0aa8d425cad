"""The gate learned from every persona's examples: which persona a message is like.

Every persona has examples: its description and example messages, and for one discovered in
a chat export its cluster's messages (stored as routing examples when it was imported). One
multinomial logistic regression over all personas is fitted on them with balanced class
weights, so a cluster of 200 messages counts as much as a shipped persona's five, and each
persona learns what it is not from everyone else's examples (a discovered persona from the
shipped ones too, not only from the other discovered ones). A council with no imported persona
has no example gate: its examples would be the prototypes' own texts.

Its logits are divided by a temperature fitted on a held-out quarter of the examples, so the
gate is only as sure as it proved to be on messages it did not learn from. The persona it
scores highest gets LIMIT, each other one LIMIT minus how far its logit falls behind, and no
score goes below -PUSH_LIMIT. Logits centred on their mean and clipped to ±LIMIT (as before)
gave every persona of a crowded region (six mode clusters of one export) the same +LIMIT, so
the gate could not tell them apart and the held-out messages of two of them reached their
persona 0.75 of the time; measured from the best, it can. It can carry a persona a long way on
its own ground, but pushes one down by at most PUSH_LIMIT, so it cannot shout down the
prototypes and rules (a "should I…" question the gate gives to a cluster still reaches the
persona whose rule asks for it).

When discovered personas were found at a topic/style balance above 0 (council/discovery/modes.py),
they are compared in their mode space (their cluster messages' mean mode row), and the gate is
fitted on everyone's examples' mode rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax
from sklearn.linear_model import LogisticRegression

from ..discovery.modes import ModeSpace
from ..embeddings import unit_rows

# The gate's lift and push on a logit, at most (the similarity term spans ±8 by default, a
# rule that holds adds 0.5). Chosen on tests/test_router_fairness.py's two exports (at the
# default balance and on topics): their held-out messages, "should I…" and general questions
# all hold for a lift of 1.625-2 with a push of 0.625; these keep the widest margins and
# bench/router.py's router at 0.822 (a lift of 2: 0.818; the push does not change it).
LIMIT = 1.75
PUSH_LIMIT = 0.625
# Every HELD_OUT_EVERY-th example of a persona is held out to fit the temperature.
HELD_OUT_EVERY = 4
# Held-out messages "of no one" added to the temperature's fit: with few held-out examples
# all classified right, a fit alone would make the gate as sure as it can be.
PSEUDO_MESSAGES = 2.0
TEMPERATURES = (0.05, 20.0)
# Inverse regularisation (scikit-learn's default); bench/router.py measures it.
REGULARISATION = 1.0


@dataclass(frozen=True)
class ExampleGate:
    """Per persona, LIMIT minus how far its calibrated logit for a message falls behind the
    best one's (coefficients already scaled), at least -PUSH_LIMIT."""

    persona_ids: tuple[int, ...]
    coef: np.ndarray
    intercept: np.ndarray
    temperature: float
    space: ModeSpace | None  # where it learned: the council's mode space, else embeddings

    def scores(self, embedding: np.ndarray) -> dict[int, float]:
        if self.space is not None:
            embedding = self.space.rows(embedding[None, :])[0]
        logits = self.coef @ embedding + self.intercept
        scores = np.maximum(LIMIT + logits - logits.max(), -PUSH_LIMIT)
        return {persona_id: float(value) for persona_id, value in zip(self.persona_ids, scores)}


def fit_example_gate(examples: dict[int, np.ndarray],
                     space: ModeSpace | None = None) -> ExampleGate | None:
    """Fit on each persona's example embeddings (rows), in `space` if given; None with fewer
    than two personas."""
    examples = {persona_id: rows for persona_id, rows in examples.items() if len(rows)}
    if len(examples) < 2:
        return None
    persona_ids = tuple(examples)
    vectors = np.concatenate([examples[p] if space is None else space.rows(examples[p])
                              for p in persona_ids]).astype(np.float64)
    owners = np.concatenate([np.full(len(examples[p]), i) for i, p in enumerate(persona_ids)])
    positions = np.concatenate([np.arange(len(examples[p])) for p in persona_ids])
    held_out = positions % HELD_OUT_EVERY == HELD_OUT_EVERY - 1
    temperature = 1.0
    if len(set(owners[~held_out])) == len(persona_ids) and held_out.any():
        coef, intercept = _fit(vectors[~held_out], owners[~held_out], len(persona_ids))
        temperature = _temperature(vectors[held_out] @ coef.T + intercept, owners[held_out])
    coef, intercept = _fit(vectors, owners, len(persona_ids))
    return ExampleGate(persona_ids, coef / temperature, intercept / temperature, temperature,
                       space)


def _balanced(owners: np.ndarray) -> np.ndarray:
    """Sample weights giving every persona the same total, averaging 1 (so the
    regularisation means what it means unweighted)."""
    counts = np.bincount(owners)
    return len(owners) / (len(counts) * counts[owners])


def _fit(vectors: np.ndarray, owners: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression; coefficients per class (a binary fit split in two)."""
    model = LogisticRegression(C=REGULARISATION, max_iter=1000)
    model.fit(vectors, owners, sample_weight=_balanced(owners))
    if classes == 2:
        half = model.coef_[0] / 2, model.intercept_[0] / 2
        return np.stack([-half[0], half[0]]), np.array([-half[1], half[1]])
    return model.coef_, model.intercept_


def _temperature(logits: np.ndarray, owners: np.ndarray) -> float:
    """The temperature minimising the balanced held-out log loss plus PSEUDO_MESSAGES
    messages whose persona could be anyone's."""
    weights = _balanced(owners)
    rows = np.arange(len(owners))

    def loss(log_t: float) -> float:
        log_p = log_softmax(logits / np.exp(log_t), axis=1)
        return float(-(weights * log_p[rows, owners]).sum()
                     - PSEUDO_MESSAGES * log_p.mean())

    low, high = np.log(TEMPERATURES)
    return float(np.exp(minimize_scalar(loss, bounds=(low, high), method="bounded").x))


def mode_prototypes(space: ModeSpace, clusters: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """The mean mode row of each imported persona's cluster messages (unit).

    A persona discovered at a topic/style balance above 0 is a way of asking across subjects,
    so its topic centroid is near every other's; compared where k-means found it (the message
    beside its style, measured from the export's topic centres), a question goes to the
    cluster it would have joined. The other personas keep their topic prototypes: their few
    texts say what they are about, not how the user asks."""
    return {persona_id: unit_rows(space.rows(rows).mean(axis=0))
            for persona_id, rows in clusters.items() if len(rows)}
