"""Which personas speak for a message, and how much each counts.

Until the learned router lands, every enabled persona speaks with the same weight. Rounds
already take their weights from here and store them per answer, so the router can replace
`route_message` without touching the round.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models import Persona


@dataclass(frozen=True)
class RouteDecision:
    persona: Persona
    weight: float
    selected: bool
    reason: str


def route_message(personas: list[Persona], message: str) -> list[RouteDecision]:
    """Equal weights over the enabled personas (they sum to 1)."""
    enabled = [p for p in personas if p.enabled]
    if not enabled:
        return []
    weight = 1.0 / len(enabled)
    return [RouteDecision(p, weight, True, "every enabled persona speaks with equal weight")
            for p in enabled]
