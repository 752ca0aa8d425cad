"""The gate's arithmetic: softmax with a temperature, per-persona weight bounds, top-k."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import softmax as scipy_softmax


def softmax(logits: Sequence[float], temperature: float) -> np.ndarray:
    return scipy_softmax(np.asarray(logits, dtype=float) / max(temperature, 1e-6))


def bound_weights(weights: np.ndarray, lows: Sequence[float], highs: Sequence[float],
                  rounds: int = 20) -> np.ndarray:
    """Clamp each weight into [low, high] and renormalise the free ones so they sum to 1."""
    lows_a, highs_a = np.asarray(lows, dtype=float), np.asarray(highs, dtype=float)
    if lows_a.sum() > 1 or highs_a.sum() < 1:
        return weights
    result = weights.astype(float).copy()
    for _ in range(rounds):
        clamped = np.clip(result, lows_a, highs_a)
        pinned = (clamped != result) | (result <= lows_a) | (result >= highs_a)
        free = ~pinned
        leftover = 1.0 - clamped[pinned].sum()
        if not free.any() or clamped[free].sum() == 0:
            return clamped / clamped.sum()
        clamped[free] *= leftover / clamped[free].sum()
        if np.allclose(clamped, result):
            return clamped
        result = clamped
    return result / result.sum()


def select_top_k(weights: np.ndarray, k: int, min_weight: float,
                 forced: Sequence[int] = ()) -> list[int]:
    """Indices of the personas that speak, best first.

    The top `k` at or above `min_weight`, always at least the best one; a `forced` persona
    (one the exploration guard says has waited too long) takes the place of the weakest.
    """
    order = [int(i) for i in np.argsort(-weights, kind="stable")]
    chosen = [i for i in order[:k] if weights[i] >= min_weight] or order[:1]
    for index in forced:
        if index in chosen:
            continue
        if len(chosen) >= k:
            chosen.pop()
        chosen.append(index)
    return chosen
